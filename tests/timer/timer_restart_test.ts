/**
 * Restarts simulated in one thread: the process is "killed" (nothing more written, its clock
 * stopped) and a new process opens the same store with its own clocks, within the same boot or
 * after a reboot with a right, behind or unsynced wall clock. The real kill -9 of a real process
 * is in `kill_test.ts`.
 */
import assert from "node:assert/strict";
import { FakeBootClock } from "../../lib/boot_clock.ts";
import { FakeClock } from "../../lib/clock.ts";
import { Reply } from "../../lib/rpc_server.ts";
import { Proc } from "./harness.ts";

const HOUR = 3_600_000;

for (const jump of [+HOUR, -HOUR]) {
  Deno.test(
    `TimerService.start() after a crash in the same boot counts downtime exactly (wall ${
      jump > 0 ? "+" : "-"
    }1 h meanwhile)`,
    async () => {
      const p1 = await Proc.create([]);
      const s = p1.set({ machine_id: 1, session_id: "run", op: "start", duration_ms: 600_000 });
      assert.ok(!(s instanceof Reply));
      p1.set({ machine_id: 2, session_id: "brk", op: "start", duration_ms: 300_000 });
      await p1.advance(100_000);
      p1.set({ machine_id: 2, session_id: "brk", op: "pause" });
      await p1.advance(7_300); // not on an alive tick: the boot clock still knows exactly
      p1.kill();
      const p2 = p1.next({ downtimeMs: 42_700, wallErrorMs: jump });
      try {
        p2.service.start();
        assert.equal(p2.service.get("run")?.remaining_ms, 450_000);
        assert.equal(p2.service.get("brk")?.remaining_ms, 200_000, "a paused timer keeps its time");
        assert.equal(p2.service.get("brk")?.state, "paused");
        await p2.advance(449_999);
        assert.equal(p2.attempts.length, 0);
        await p2.advance(1);
        assert.deepEqual(p2.attempts.map((a) => a.request.session_id), ["run"]);
        assert.equal(p2.attempts[0].request.deadline, p2.clock.now(), "deadline on today's wall");
      } finally {
        await p2.dispose();
      }
    },
  );
}

Deno.test("TimerService.start() fires a deadline that passed during the downtime at once", async () => {
  const p1 = await Proc.create([]);
  const t0 = p1.clock.now();
  p1.set({ machine_id: 1, session_id: "s1", op: "start", duration_ms: 60_000 });
  p1.set({ machine_id: 2, session_id: "s2", op: "start", duration_ms: 600_000 });
  await p1.advance(10_000);
  p1.kill();
  const p2 = p1.next({ downtimeMs: 120_000 });
  try {
    p2.service.start();
    await p2.advance(0);
    assert.deepEqual(p2.attempts.map((a) => a.request), [
      { machine_id: 1, session_id: "s1", deadline: t0 + 60_000 },
    ]);
    assert.equal(p2.attempts[0].mono, p2.clock.monotonic(), "at once, not after a delay");
    assert.equal(p2.service.get("s2")?.remaining_ms, 470_000);
  } finally {
    await p2.dispose();
  }
});

Deno.test("TimerService.start() after a reboot with a synced clock takes the downtime from the wall clock", async () => {
  const p1 = await Proc.create([]);
  p1.set({ machine_id: 1, session_id: "s1", op: "start", duration_ms: 600_000 });
  await p1.advance(100_000);
  p1.kill();
  const p2 = p1.next({ downtimeMs: 30_000, reboot: true, synced: true });
  try {
    p2.service.start();
    assert.equal(p2.service.get("s1")?.remaining_ms, 470_000);
    await p2.advance(469_999);
    assert.equal(p2.attempts.length, 0);
    await p2.advance(1);
    assert.equal(p2.attempts.length, 1);
  } finally {
    await p2.dispose();
  }
});

Deno.test("TimerService after a reboot with the clock behind subtracts the downtime once NTP syncs", async () => {
  const p1 = await Proc.create([]);
  p1.set({ machine_id: 1, session_id: "s1", op: "start", duration_ms: 600_000 });
  p1.set({ machine_id: 2, session_id: "s2", op: "start", duration_ms: 600_000 });
  await p1.advance(100_000);
  p1.set({ machine_id: 2, session_id: "s2", op: "pause" });
  await p1.advance(2_000);
  p1.kill();
  // fake-hwclock: the Pi boots with the time it saved long before; NTP has not synced yet.
  const p2 = p1.next({ downtimeMs: 30_000, reboot: true, wallErrorMs: -HOUR, synced: false });
  try {
    p2.service.start();
    // Counted exactly up to the last sign of life (written 20 ms after the tick at t = 100 s);
    // the downtime is not known yet.
    assert.equal(p2.service.get("s1")?.remaining_ms, 499_980);
    assert.equal(p2.service.get("s2")?.remaining_ms, 500_000, "paused through the downtime");
    await p2.advance(10_000);
    p2.boot.synced = true;
    p2.clock.jumpWall(+HOUR); // NTP sync: the wall clock jumps to the true time
    await p2.advance(5_000); // the next sign-of-life tick notices the sync
    assert.equal(
      p2.service.get("s1")?.remaining_ms,
      600_000 - 102_000 - 30_000 - 15_000,
      "the downtime is taken exactly once, after the sync",
    );
    assert.equal(p2.service.get("s2")?.remaining_ms, 500_000);
    await p2.advance(600_000 - 102_000 - 30_000 - 15_000 - 1);
    assert.equal(p2.attempts.length, 0);
    await p2.advance(1);
    assert.equal(p2.attempts.length, 1);
    // The clock jumps again later: nothing changes any more.
    p2.clock.jumpWall(+HOUR);
    await p2.advance(5_000);
    p2.set({ machine_id: 2, session_id: "s2", op: "resume" });
    assert.equal(p2.service.get("s2")?.remaining_ms, 500_000);
  } finally {
    await p2.dispose();
  }
});

Deno.test("TimerService after a reboot with an untrusted clock never cuts a session", async () => {
  const p1 = await Proc.create([]);
  p1.set({ machine_id: 1, session_id: "s1", op: "start", duration_ms: 600_000 });
  await p1.advance(100_000);
  p1.kill();
  // No sync information at all (no systemd-timesyncd) and the clock visibly behind.
  const p2 = p1.next({ downtimeMs: 30_000, reboot: true, wallErrorMs: -HOUR, synced: null });
  try {
    p2.service.start();
    // Bound documented in docs/time.md: never cut; lengthened by at most the downtime plus the
    // time since the last sign of life (here 4.98 s: written at t = 95.02 s, killed at 100 s).
    assert.equal(p2.service.get("s1")?.remaining_ms, 504_980);
    p2.clock.jumpWall(+HOUR);
    await p2.advance(504_979);
    assert.equal(p2.attempts.length, 0);
    await p2.advance(1);
    assert.equal(p2.attempts.length, 1);
  } finally {
    await p2.dispose();
  }
});

Deno.test("TimerService does not repeat warnings after a restart; one catch-up for downtime", async () => {
  const p1 = await Proc.create([300, 60]);
  p1.set({ machine_id: 1, session_id: "a", op: "start", duration_ms: 400_000 });
  p1.set({ machine_id: 2, session_id: "b", op: "start", duration_ms: 900_000 });
  await p1.advance(100_000);
  assert.deepEqual(p1.warnings.map((w) => [w.session_id, w.remaining_s]), [["a", 300]]);
  await p1.advance(1_000); // past the background write (a crash before it repeats the warning)
  p1.kill();
  const p2 = p1.next({ downtimeMs: 249_000 });
  try {
    p2.service.start();
    // a: 50 s left; its 60 s warning passed while down: sent once, late, with the true time left.
    // b: 550 s left; nothing due.
    assert.deepEqual(p2.warnings.map((w) => [w.session_id, w.remaining_s]), [["a", 50]]);
    await p2.advance(250_000);
    assert.deepEqual(p2.warnings.map((w) => [w.session_id, w.remaining_s]), [["a", 50], [
      "b",
      300,
    ]]);
    await p2.advance(1_000);
    p2.kill();
    const p3 = p2.next({ downtimeMs: 1_000 });
    try {
      p3.service.start();
      await p3.advance(240_000);
      assert.deepEqual(p3.warnings.map((w) => [w.session_id, w.remaining_s]), [["b", 60]]);
    } finally {
      await p3.dispose();
    }
  } finally {
    await p2.dispose().catch(() => {});
  }
});

Deno.test("TimerService delivers an unanswered expiry again after a restart, same correlation id", async () => {
  const p1 = await Proc.create([]);
  p1.answer = () => new Error("handler down");
  p1.set({ machine_id: 1, session_id: "s1", op: "start", duration_ms: 60_000 });
  await p1.advance(60_000);
  await p1.advance(50); // the expired state is written (the next attempt is due at +100 ms)
  assert.equal(p1.attempts.length, 1);
  p1.kill();
  const p2 = p1.next({ downtimeMs: 5_000 });
  p2.answer = (a) => ({
    correlation_id: a.correlationId,
    status: "ok",
    data: { machine_id: 1, session_id: "s1", ended: true },
  });
  try {
    p2.service.start();
    await p2.advance(0);
    assert.equal(p2.attempts.length, 1);
    assert.equal(p2.attempts[0].correlationId, p1.attempts[0].correlationId);
    assert.equal(p2.attempts[0].request.deadline, p1.attempts[0].request.deadline);
    await p2.advance(50); // the answer is written
    p2.kill();
    const p3 = p2.next({ downtimeMs: 5_000 });
    try {
      p3.service.start();
      await p3.advance(60_000);
      assert.equal(p3.attempts.length, 0, "an answered expiry stays answered");
      assert.equal(p3.service.get("s1")?.state, "expired");
    } finally {
      await p3.dispose();
    }
  } finally {
    await p2.dispose().catch(() => {});
  }
});

Deno.test("TimerService remembers applied extends across a restart", async () => {
  const p1 = await Proc.create([]);
  p1.set({ machine_id: 1, session_id: "s1", op: "start", duration_ms: 60_000 });
  p1.set({ machine_id: 1, session_id: "s1", op: "extend", add_ms: 60_000, correlation_id: "x" });
  p1.kill();
  const p2 = p1.next({ downtimeMs: 1_000 });
  try {
    p2.service.start();
    const again = p2.set({
      machine_id: 1,
      session_id: "s1",
      op: "extend",
      add_ms: 60_000,
      correlation_id: "x",
    });
    assert.ok(again instanceof Reply && again.response.duplicate);
    assert.equal(p2.service.get("s1")?.remaining_ms, 119_000);
  } finally {
    await p2.dispose();
  }
});

Deno.test("TimerService without a boot id (no /proc) falls back to the wall clock across restarts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "timer-test-" });
  const c1 = new FakeClock();
  const p1 = new Proc(dir, c1, new FakeBootClock(c1, null, 0, null), []);
  p1.service.start();
  p1.set({ machine_id: 1, session_id: "s1", op: "start", duration_ms: 600_000 });
  await p1.advance(102_000);
  p1.kill();
  const c2 = new FakeClock(c1.now() + 30_000, 1_000);
  const p2 = new Proc(dir, c2, new FakeBootClock(c2, null, 0, null), []);
  try {
    p2.service.start();
    assert.equal(p2.service.get("s1")?.remaining_ms, 468_000);
  } finally {
    await p2.dispose();
  }
});
