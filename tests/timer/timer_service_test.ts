import assert from "node:assert/strict";
import { HandlerError } from "../../lib/errors.ts";
import { Reply } from "../../lib/rpc_server.ts";
import type { TimerState } from "../../protocol/timer.ts";
import { Proc } from "./harness.ts";

function state(r: TimerState | Reply<TimerState>): TimerState {
  if (r instanceof Reply) {
    assert.equal(r.response.status, "ok");
    return (r.response as { data: TimerState }).data;
  }
  return r;
}

function refusedWith(code: string) {
  return (err: unknown) => {
    assert.ok(err instanceof HandlerError, `expected HandlerError, got ${err}`);
    assert.equal(err.code, code);
    return true;
  };
}

Deno.test("TimerService.set() start expires the session exactly at its duration", async () => {
  const p = await Proc.create();
  try {
    const t0 = p.clock.now();
    const s = state(p.set({ machine_id: 3, session_id: "s1", op: "start", duration_ms: 60_000 }));
    assert.deepEqual(s, {
      machine_id: 3,
      session_id: "s1",
      state: "running",
      remaining_ms: 60_000,
      deadline: t0 + 60_000,
    });
    await p.advance(59_999);
    assert.equal(p.attempts.length, 0);
    await p.advance(1);
    assert.equal(p.attempts.length, 1);
    const a = p.attempts[0];
    assert.deepEqual(a.request, { machine_id: 3, session_id: "s1", deadline: t0 + 60_000 });
    assert.equal(a.wall, t0 + 60_000);
    assert.equal(p.service.get("s1")?.state, "expired");
    const h = p.service.health();
    assert.equal(h.expiries_total, 1);
    assert.equal(h.expiries_delivered_total, 1);
    assert.equal(h.timers_running, 0);
    await p.advance(600_000);
    assert.equal(p.attempts.length, 1, "an answered expiry is never sent again");
  } finally {
    await p.dispose();
  }
});

Deno.test("TimerService.set() start is idempotent per session", async () => {
  const p = await Proc.create();
  try {
    p.set({ machine_id: 1, session_id: "s1", op: "start", duration_ms: 120_000 });
    await p.advance(20_000);
    const again = state(
      p.set({ machine_id: 1, session_id: "s1", op: "start", duration_ms: 999_000 }),
    );
    assert.equal(again.remaining_ms, 100_000, "a repeated start does not reset the timer");
    await p.advance(100_000);
    assert.equal(p.attempts.length, 1);
    const late = state(
      p.set({ machine_id: 1, session_id: "s1", op: "start", duration_ms: 60_000 }),
    );
    assert.equal(late.state, "expired", "a late retried start does not revive an expired session");
    assert.throws(
      () => p.set({ machine_id: 2, session_id: "s1", op: "start", duration_ms: 60_000 }),
      refusedWith("conflict"),
    );
  } finally {
    await p.dispose();
  }
});

Deno.test("TimerService.set() start of a new session replaces the machine's old timer", async () => {
  const p = await Proc.create();
  try {
    p.set({ machine_id: 7, session_id: "old", op: "start", duration_ms: 60_000 });
    p.set({ machine_id: 8, session_id: "other", op: "start", duration_ms: 90_000 });
    await p.advance(10_000);
    p.set({ machine_id: 7, session_id: "new", op: "start", duration_ms: 120_000 });
    assert.equal(p.service.get("old")?.state, "cancelled");
    assert.equal(p.service.get("old")?.remaining_ms, 50_000);
    assert.equal(p.service.health().timers_running, 2);
    await p.advance(200_000);
    assert.deepEqual(p.attempts.map((a) => a.request.session_id), ["other", "new"]);
  } finally {
    await p.dispose();
  }
});

Deno.test("TimerService.set() extend adds time and is deduplicated by correlation id", async () => {
  const p = await Proc.create([]);
  try {
    p.set({ machine_id: 1, session_id: "s1", op: "start", duration_ms: 60_000 });
    await p.advance(30_000);
    const first = p.set({
      machine_id: 1,
      session_id: "s1",
      op: "extend",
      add_ms: 60_000,
      correlation_id: "ext-1",
    });
    assert.ok(!(first instanceof Reply));
    assert.equal(first.remaining_ms, 90_000);
    await p.advance(5_000);
    const retry = p.set({
      machine_id: 1,
      session_id: "s1",
      op: "extend",
      add_ms: 60_000,
      correlation_id: "ext-1",
    });
    assert.ok(retry instanceof Reply, "a retried extend is answered as a duplicate");
    assert.equal(retry.response.duplicate, true);
    assert.equal(state(retry).remaining_ms, 85_000, "the retry did not add time again");
    assert.throws(
      () =>
        p.set({
          machine_id: 1,
          session_id: "s2",
          op: "extend",
          add_ms: 1,
          correlation_id: "ext-1",
        }),
      refusedWith("conflict"),
    );
    await p.advance(84_999);
    assert.equal(p.attempts.length, 0);
    await p.advance(1);
    assert.equal(p.attempts.length, 1, "expires after 60 s + 60 s paid, not earlier or later");
    assert.throws(
      () => p.set({ machine_id: 1, session_id: "s1", op: "extend", add_ms: 60_000 }),
      refusedWith("not_active"),
    );
  } finally {
    await p.dispose();
  }
});

Deno.test("TimerService.set() refuses extend, pause and resume of unknown sessions", async () => {
  const p = await Proc.create();
  try {
    for (const op of ["pause", "resume"] as const) {
      assert.throws(
        () => p.set({ machine_id: 1, session_id: "nope", op }),
        refusedWith("stale_session"),
      );
    }
    assert.throws(
      () => p.set({ machine_id: 1, session_id: "nope", op: "extend", add_ms: 1_000 }),
      refusedWith("stale_session"),
    );
  } finally {
    await p.dispose();
  }
});

Deno.test("TimerService.set() pause and resume keep the remaining time precisely", async () => {
  const p = await Proc.create([]);
  try {
    p.set({ machine_id: 2, session_id: "s1", op: "start", duration_ms: 60_000 });
    await p.advance(10_250);
    const paused = state(p.set({ machine_id: 2, session_id: "s1", op: "pause" }));
    assert.deepEqual([paused.state, paused.remaining_ms, paused.deadline], [
      "paused",
      49_750,
      null,
    ]);
    assert.equal(
      state(p.set({ machine_id: 2, session_id: "s1", op: "pause" })).remaining_ms,
      49_750,
    );
    await p.advance(3_600_000);
    assert.equal(p.attempts.length, 0, "a paused timer does not run");
    assert.equal(p.service.health().timers_paused, 1);
    const resumed = state(p.set({ machine_id: 2, session_id: "s1", op: "resume" }));
    assert.equal(resumed.remaining_ms, 49_750);
    await p.advance(1_000);
    assert.equal(
      state(p.set({ machine_id: 2, session_id: "s1", op: "resume" })).remaining_ms,
      48_750,
    );
    await p.advance(48_749);
    assert.equal(p.attempts.length, 0);
    await p.advance(1);
    assert.equal(p.attempts.length, 1);
    assert.throws(
      () => p.set({ machine_id: 2, session_id: "s1", op: "pause" }),
      refusedWith("not_active"),
    );
  } finally {
    await p.dispose();
  }
});

Deno.test("TimerService.set() cancel is idempotent and a later start cannot revive it", async () => {
  const p = await Proc.create();
  try {
    p.set({ machine_id: 4, session_id: "s1", op: "start", duration_ms: 60_000 });
    await p.advance(1_000);
    const c1 = state(p.set({ machine_id: 4, session_id: "s1", op: "cancel" }));
    assert.deepEqual([c1.state, c1.remaining_ms], ["cancelled", 59_000]);
    const c2 = state(p.set({ machine_id: 4, session_id: "s1", op: "cancel" }));
    assert.deepEqual(c2, c1);
    // A cancel that overtook its start (retries reordered): the start stays cancelled.
    assert.equal(
      state(p.set({ machine_id: 4, session_id: "s2", op: "cancel" })).state,
      "cancelled",
    );
    assert.equal(
      state(p.set({ machine_id: 4, session_id: "s2", op: "start", duration_ms: 60_000 })).state,
      "cancelled",
    );
    await p.advance(3_600_000);
    assert.equal(p.attempts.length, 0);
  } finally {
    await p.dispose();
  }
});

Deno.test("TimerService publishes each warning once, at its threshold", async () => {
  const p = await Proc.create([300, 60]);
  try {
    const t0 = p.clock.now();
    p.set({ machine_id: 5, session_id: "s1", op: "start", duration_ms: 600_000 });
    await p.advance(299_999);
    assert.equal(p.warnings.length, 0);
    await p.advance(1);
    assert.deepEqual(p.warnings, [{
      machine_id: 5,
      session_id: "s1",
      remaining_s: 300,
      deadline: t0 + 600_000,
      sent_at: t0 + 300_000,
    }]);
    await p.advance(240_000);
    assert.deepEqual(p.warnings.map((w) => w.remaining_s), [300, 60]);
    await p.advance(60_000);
    assert.equal(p.warnings.length, 2);
    assert.equal(p.service.health().warnings_total, 2);
  } finally {
    await p.dispose();
  }
});

Deno.test("TimerService never sends a warning the session started or was extended below", async () => {
  const p = await Proc.create([300, 60]);
  try {
    // 120 s: the 300 s warning is already passed at start and is never sent.
    p.set({ machine_id: 1, session_id: "a", op: "start", duration_ms: 120_000 });
    // 60 s exactly: no "60 s left" warning at the very start either.
    p.set({ machine_id: 2, session_id: "b", op: "start", duration_ms: 60_000 });
    await p.advance(60_000);
    assert.deepEqual(p.warnings.map((w) => [w.session_id, w.remaining_s]), [["a", 60]]);
    await p.advance(30_000);
    // 30 s left, +90 s: 120 s left; 60 s was sent already (once per session), 300 s is skipped.
    p.set({ machine_id: 1, session_id: "a", op: "extend", add_ms: 90_000 });
    await p.advance(120_000);
    assert.equal(p.warnings.length, 1);
    assert.deepEqual(p.attempts.map((a) => a.request.session_id), ["b", "a"]);
  } finally {
    await p.dispose();
  }
});

Deno.test("TimerService retries timer/expired with backoff until the handler answers", async () => {
  const p = await Proc.create([]);
  try {
    let n = 0;
    p.answer = (a) =>
      ++n <= 3 ? new Error("no reply (handler restarting)") : {
        correlation_id: a.correlationId,
        status: "ok",
        data: { machine_id: 1, session_id: "s1", ended: true },
      };
    p.set({ machine_id: 1, session_id: "s1", op: "start", duration_ms: 60_000 });
    await p.advance(60_000);
    assert.equal(p.attempts.length, 1);
    for (let i = 0; i < 20 && p.attempts.length < 4; i++) await p.advance(50);
    assert.equal(p.attempts.length, 4);
    const gaps = p.attempts.slice(1).map((a, i) => a.mono - p.attempts[i].mono);
    assert.deepEqual(gaps.map((g) => Math.round(g / 50) * 50), [100, 200, 400], "backoff doubles");
    assert.equal(new Set(p.attempts.map((a) => a.correlationId)).size, 1, "same correlation id");
    const h = p.service.health();
    assert.equal(h.expiry_retries_total, 3);
    assert.equal(h.expiries_pending, 0);
    await p.advance(10_000);
    assert.equal(p.attempts.length, 4);
    p.service.stop();
    assert.equal(p.store.get("s1")?.delivered, true, "the answer is recorded durably");
  } finally {
    await p.dispose();
  }
});

Deno.test("TimerService does not repeat an expiry the handler ignored as stale", async () => {
  const p = await Proc.create([]);
  try {
    p.answer = (a) => ({
      correlation_id: a.correlationId,
      status: "ok",
      data: { machine_id: 1, session_id: a.request.session_id, ended: false },
    });
    p.set({ machine_id: 1, session_id: "s1", op: "start", duration_ms: 60_000 });
    await p.advance(120_000);
    assert.equal(p.attempts.length, 1);
    assert.equal(p.service.health().expiry_retries_total, 0);
    // A handler refusal that cannot change on retry is not repeated either.
    p.answer = (a) => ({
      correlation_id: a.correlationId,
      status: "error",
      error: { code: "unknown_machine", message: "no such machine" },
    });
    p.set({ machine_id: 2, session_id: "s2", op: "start", duration_ms: 60_000 });
    await p.advance(120_000);
    assert.equal(p.attempts.length, 2);
    // A transient error is.
    let n = 0;
    p.answer = (a) =>
      n++ === 0
        ? {
          correlation_id: a.correlationId,
          status: "error",
          error: { code: "unavailable", message: "restarting" },
        }
        : {
          correlation_id: a.correlationId,
          status: "ok",
          data: { machine_id: 3, session_id: "s3", ended: true },
        };
    p.set({ machine_id: 3, session_id: "s3", op: "start", duration_ms: 60_000 });
    await p.advance(60_000);
    await p.advance(1_000);
    assert.equal(p.attempts.length, 4);
  } finally {
    await p.dispose();
  }
});

Deno.test("TimerService: wall-clock jumps forward and back neither cut nor lengthen", async () => {
  const p = await Proc.create([300]);
  try {
    p.set({ machine_id: 1, session_id: "fwd", op: "start", duration_ms: 600_000 });
    p.set({ machine_id: 2, session_id: "back", op: "start", duration_ms: 900_000 });
    await p.advance(100_000);
    p.clock.jumpWall(+3_600_000);
    await p.advance(199_999);
    assert.equal(p.warnings.length, 0, "no early warning after a forward jump");
    await p.advance(1);
    assert.equal(p.warnings.length, 1);
    await p.advance(200_000);
    p.clock.jumpWall(-2 * 3_600_000);
    // Deadline reported for "back" follows the wall clock as it now is.
    assert.equal(p.service.get("back")?.deadline, p.clock.now() + 400_000);
    await p.advance(99_999);
    assert.equal(p.attempts.length, 0);
    await p.advance(1);
    assert.deepEqual(p.attempts.map((a) => a.request.session_id), ["fwd"]);
    assert.equal(p.attempts[0].mono - 1_000, 600_000, "after 600 s of real time");
    await p.advance(299_999);
    assert.equal(p.attempts.length, 1);
    await p.advance(1);
    assert.equal(p.attempts[1].request.session_id, "back");
    assert.equal(p.attempts[1].mono - 1_000, 900_000);
  } finally {
    await p.dispose();
  }
});

Deno.test("TimerService writes in the background only when no timer event is about to fire", async () => {
  const p = await Proc.create([]);
  try {
    p.set({ machine_id: 1, session_id: "a", op: "start", duration_ms: 60_000 });
    p.set({ machine_id: 2, session_id: "b", op: "start", duration_ms: 60_025 });
    p.set({ machine_id: 3, session_id: "c", op: "start", duration_ms: 60_030 });
    const writes: number[] = [];
    const store = p.store;
    const original = store.transaction.bind(store);
    store.transaction = <T>(fn: () => T): T => {
      writes.push(p.clock.monotonic() - 1_000);
      return original(fn);
    };
    for (let i = 0; i < 100; i++) await p.advance(1);
    assert.equal(p.attempts.length, 0);
    for (let i = 0; i < 59_800; i += 50) await p.advance(50);
    writes.length = 0; // signs of life so far (t = 59.9 s)
    for (let i = 0; i < 200; i++) await p.advance(1);
    assert.deepEqual(p.attempts.map((a) => a.mono - 1_000), [60_000, 60_025, 60_030]);
    // "a" expired at 60 000: its write was due at 60 020, but b and c were about to expire,
    // so it waited until after them and took all three in one transaction.
    assert.deepEqual(writes, [60_031]);
    assert.equal(store.get("c")?.state, "expired");
  } finally {
    await p.dispose();
  }
});
