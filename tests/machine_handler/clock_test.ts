/**
 * The machine handler's timing, with a fake clock shared by the handler and the simulated
 * dispensers (messages still go through a real broker): liveness, hold lapses, expiry, the
 * backstop, the duplicate window and the timer link's retries.
 */
import assert from "node:assert/strict";
import { FakeClock } from "../../lib/clock.ts";
import { MqttAdapter } from "../../lib/mqtt_adapter.ts";
import { RpcClient } from "../../lib/rpc_client.ts";
import { waitFor } from "../helpers/wait.ts";
import { quiet, startHarness } from "./harness.ts";

/** No heartbeat falls due during these tests unless they ask for it. */
const QUIET_KEEPALIVE_S = 3600;

Deno.test("a silent dispenser is marked offline within 1.5x its keepalive, never before 1x; a healthy one stays online", async () => {
  const clock = new FakeClock();
  const keepMs = 2_000;
  const h = await startHarness({ machines: 2, clock, keepaliveS: keepMs / 1000 });
  try {
    const t0 = clock.now();
    const silent = h.fleet!.get(1);
    // A heartbeat now, recognisable by its ball level, then nothing.
    silent.misbehave({ empty: true });
    await waitFor(() => h.handler.machine(1)!.ball_level === "empty", {
      message: "heartbeat at t0",
    });
    assert.equal(h.handler.machine(1)!.last_seen, t0);
    silent.misbehave({ silent: true });
    let offlineAt: number | null = null;
    for (let t = 100; t <= 1.5 * keepMs; t += 100) {
      clock.advance(100);
      const due = Math.floor(t / keepMs) * keepMs;
      if (due > 0) {
        await waitFor(() => h.handler.machine(2)!.last_seen! >= t0 + due, {
          message: `healthy heartbeat at +${due} ms`,
        });
      }
      if (offlineAt === null && !h.handler.machine(1)!.online) offlineAt = t;
      assert.equal(h.handler.machine(2)!.online, true, `healthy bay stays online at +${t} ms`);
    }
    assert.notEqual(offlineAt, null, "marked offline");
    assert.ok(offlineAt! > keepMs && offlineAt! <= 1.5 * keepMs, `offline at +${offlineAt} ms`);
    assert.equal(h.handler.machine(1)!.status, "offline");
    await waitFor(() => h.alerts.some((a) => a.kind === "offline" && a.machine_id === 1));
    assert.match(
      h.alerts.find((a) => a.kind === "offline")!.message,
      /^Bay 1's dispenser sent no heartbeat for over 2.5 s; it is offline$/,
    );
    // It speaks again: back online and resynchronised.
    silent.reset();
    silent.refill();
    await waitFor(() => h.handler.machine(1)!.online, { message: "back online" });
    assert.equal(h.handler.machine(1)!.status, "available");
  } finally {
    await h.stop();
  }
});

Deno.test("a payment hold lapses at expires_at [I1]; activate with its hold_id converts it before", async () => {
  const clock = new FakeClock();
  const h = await startHarness({ machines: 2, clock, keepaliveS: QUIET_KEEPALIVE_S });
  try {
    const held = await h.ok({ action: "hold", machine_id: 1, hold_id: "h-1", hold_s: 30 });
    assert.equal(held.status, "reserved");
    assert.deepEqual(held.hold, {
      hold_id: "h-1",
      origin: "kiosk",
      expires_at: clock.now() + 30_000,
    });
    assert.equal(held.reason, "held for payment at the kiosk");
    assert.equal(h.updates.get(1)!.at(-1)!.status, "reserved");
    // Bay 2: converted by the payment's activate.
    await h.ok({ action: "hold", machine_id: 2, hold_id: "h-2", hold_s: 30 });
    const other = await h.command({ action: "activate", machine_id: 2, duration_s: 600 }, h.admin);
    assert.equal(other.status === "error" && other.error.code, "conflict");
    const conv = await h.ok({ action: "activate", machine_id: 2, duration_s: 600, hold_id: "h-2" });
    assert.equal(conv.status, "active");
    assert.equal(conv.hold, null);
    clock.advance(29_000);
    assert.equal(h.handler.machine(1)!.status, "reserved");
    clock.advance(1_000);
    assert.equal(h.handler.machine(1)!.status, "available", "lapsed at once");
    await waitFor(() =>
      h.handler.machine(1)!.hold === null && h.states.get(1)?.status === "available"
    );
    const reader = await h.settledLedger();
    await waitFor(() => reader.ledger({ machine_id: 1, origin: "machine_handler" }).length === 1);
    const [row] = reader.ledger({ machine_id: 1, origin: "machine_handler" });
    assert.deepEqual([row.action, row.rule], ["release", "I1"]);
    reader.close();
    // Releasing it afterwards is harmless [L1].
    const rel = await h.ok({ action: "release", machine_id: 1, hold_id: "h-1" });
    assert.equal(rel.status, "available");
  } finally {
    await h.stop();
  }
});

Deno.test("a hold that lapsed while the handler was down is released at start [I1]", async () => {
  const clock = new FakeClock();
  const h = await startHarness({ machines: 1, clock, keepaliveS: QUIET_KEEPALIVE_S });
  try {
    await h.ok({ action: "hold", machine_id: 1, hold_id: "h-1", hold_s: 60 });
    await h.restartHandler(() => clock.advance(61_000));
    await waitFor(() => h.handler.machine(1)!.hold === null, { message: "hold released" });
    assert.equal(h.handler.machine(1)!.status, "available");
  } finally {
    await h.stop();
  }
});

Deno.test("timer/expired at the end of paid time ends the session [T5]; the timer's retry gets the same answer", async () => {
  const clock = new FakeClock();
  const h = await startHarness({ machines: 1, clock, keepaliveS: QUIET_KEEPALIVE_S });
  const mqtt = new MqttAdapter({ url: h.url, clientId: "timer-node-5", logger: quiet });
  await mqtt.connect();
  const timer = new RpcClient(mqtt, "timer", { logger: quiet });
  await timer.start();
  try {
    const m = await h.ok({ action: "activate", machine_id: 1, duration_s: 60, session_id: "s-5" });
    clock.advance(60_000);
    const body = { machine_id: 1, session_id: "s-5", deadline: m.session!.paid_until! };
    const r = await timer.call("timer/expired", body, { correlationId: "x-1" });
    assert.equal(r.ended, true);
    assert.equal(h.handler.machine(1)!.status, "available");
    const again = await timer.call("timer/expired", body, { correlationId: "x-1" });
    assert.equal(again.ended, true, "a retried expiry is answered the same");
    const reader = await h.settledLedger();
    const [s] = reader.sessions();
    assert.deepEqual([s.ended_by, s.end_reason, s.used_s], ["timer", "paid time over", 60]);
    const [row] = reader.ledger({ action: "timer_expired" });
    assert.deepEqual([row.origin, row.rule, row.outcome], ["timer", "T5", "ok"]);
    reader.close();
    assert.deepEqual(h.timer.ops("s-5"), ["start"], "no cancel for a timer that fired");
  } finally {
    timer.close();
    await mqtt.close();
    await h.stop();
  }
});

Deno.test("the handler ends a session the timer did not end, expiry_grace_ms after its paid time [I2]", async () => {
  const clock = new FakeClock();
  const h = await startHarness({
    machines: 1,
    clock,
    keepaliveS: QUIET_KEEPALIVE_S,
    handler: { expiry_grace_ms: 5_000 },
  });
  try {
    await h.ok({ action: "activate", machine_id: 1, duration_s: 60, session_id: "s-6" });
    clock.advance(60_000);
    assert.equal(h.fleet!.get(1).state.dispensing, false, "the dispenser's failsafe stopped it");
    clock.advance(4_000);
    assert.equal(h.handler.machine(1)!.status, "active");
    clock.advance(1_000);
    await waitFor(() => h.handler.machine(1)!.status === "available", { message: "backstop" });
    const reader = await h.settledLedger();
    await waitFor(() => reader.ledger({ origin: "machine_handler", action: "deactivate" }).length);
    const [row] = reader.ledger({ origin: "machine_handler", action: "deactivate" });
    assert.equal(row.rule, "I2");
    assert.equal(reader.sessions()[0].ended_by, "machine_handler");
    reader.close();
    await waitFor(() => h.timer.ops("s-6").includes("cancel"));
  } finally {
    await h.stop();
  }
});

Deno.test("[G2] the duplicate window is measured on the handler's clock", async () => {
  const clock = new FakeClock();
  const h = await startHarness({
    machines: 1,
    clock,
    keepaliveS: QUIET_KEEPALIVE_S,
    handler: { duplicate_window_ms: 10_000 },
  });
  try {
    await h.ok({ action: "activate", machine_id: 1, duration_s: 600 });
    const ext = { action: "extend" as const, machine_id: 1, add_s: 60 };
    await h.ok(ext);
    clock.advance(9_999);
    assert.equal((await h.command(ext)).duplicate, true);
    clock.advance(1);
    assert.equal((await h.command(ext)).duplicate, undefined);
    assert.equal(h.handler.machine(1)!.session?.paid_s, 720);
  } finally {
    await h.stop();
  }
});

Deno.test("a silent timer does not hold up commands: retried with the same correlation id, staff alerted", async () => {
  const clock = new FakeClock();
  const h = await startHarness({
    machines: 1,
    clock,
    keepaliveS: QUIET_KEEPALIVE_S,
    timer: "silent",
    handler: { timer_timeout_ms: 1_000 },
  });
  try {
    const r = await h.command({
      action: "activate",
      machine_id: 1,
      duration_s: 600,
      session_id: "s-t",
    });
    assert.equal(r.status, "ok", "the command succeeds without the timer");
    await waitFor(() => h.timer.calls.length === 1, { message: "timer asked" });
    clock.advance(1_000);
    await waitFor(() => h.alerts.some((a) => a.kind === "actor"), { message: "alert" });
    assert.match(
      h.alerts.find((a) => a.kind === "actor")!.message,
      /timer did not answer for Bay 1/,
    );
    assert.equal(h.handler.health().detail!.timer_ops_retrying, 1);
    h.timer.mode = "answer";
    clock.advance(500);
    await waitFor(() => h.handler.health().detail!.timer_ops_retrying === 0, {
      message: "retry acknowledged",
    });
    const starts = h.timer.calls.filter((c) => c.op === "start");
    assert.equal(starts.length, 2);
    assert.equal(starts[0].correlation_id, starts[1].correlation_id);
  } finally {
    await h.stop();
  }
});

Deno.test("a timer operation never answered before a restart is re-sent after it, same correlation id", async () => {
  const clock = new FakeClock();
  const h = await startHarness({
    machines: 1,
    clock,
    keepaliveS: QUIET_KEEPALIVE_S,
    handler: { timer_timeout_ms: 1_000 },
  });
  try {
    await h.ok({ action: "activate", machine_id: 1, duration_s: 600, session_id: "s-o" });
    h.timer.mode = "silent";
    await h.ok({ action: "extend", machine_id: 1, add_s: 300 });
    await waitFor(() => h.timer.ops("s-o").includes("extend"), { message: "extend sent" });
    const lost = h.timer.calls.find((c) => c.op === "extend")!;
    h.timer.mode = "answer";
    await h.restartHandler();
    await waitFor(() => h.timer.ops("s-o").filter((o) => o === "extend").length === 2, {
      message: "extend re-sent",
    });
    const again = h.timer.calls.filter((c) => c.op === "extend")[1];
    assert.equal(again.correlation_id, lost.correlation_id);
    assert.equal(again.add_ms, 300_000);
    // The idempotent start that follows finds the timer in step with the handler.
    await waitFor(() => h.timer.ops("s-o").filter((o) => o === "start").length === 2);
    assert.equal(h.handler.machine(1)!.session?.paid_s, 900);
  } finally {
    await h.stop();
  }
});

Deno.test("after a restart every running or paused session is re-armed at the timer (idempotent start)", async () => {
  const clock = new FakeClock();
  const h = await startHarness({ machines: 2, clock, keepaliveS: QUIET_KEEPALIVE_S });
  try {
    await h.ok({ action: "activate", machine_id: 1, duration_s: 600, session_id: "run" });
    await h.ok({ action: "activate", machine_id: 2, duration_s: 600, session_id: "brk" });
    await h.ok({ action: "pause", machine_id: 2 });
    // The reply does not wait for the timer: let the pause reach it before the restart.
    await waitFor(() => h.timer.calls.some((c) => c.session_id === "brk" && c.op === "pause"), {
      message: "pause at the timer",
    });
    const n = h.timer.calls.length;
    await h.restartHandler(() => clock.advance(100_000));
    await waitFor(() => h.timer.calls.length >= n + 3, { message: "timer repaired" });
    const repair = h.timer.calls.slice(n);
    const run = repair.find((c) => c.session_id === "run")!;
    assert.deepEqual([run.op, run.duration_ms], ["start", 500_000]);
    // A timer op still unanswered at the restart is sent again from the outbox first (ops are
    // idempotent); the repair itself is the start and, for a paused session, the pause after it.
    const brk = repair.filter((c) => c.session_id === "brk").map((c) => [c.op, c.duration_ms]);
    const start = brk.findIndex(([op]) => op === "start");
    assert.deepEqual(brk.slice(start), [["start", 600_000], ["pause", undefined]]);
    assert.equal(h.handler.machine(1)!.status, "active");
    assert.equal(h.handler.machine(2)!.status, "paused");
  } finally {
    await h.stop();
  }
});
