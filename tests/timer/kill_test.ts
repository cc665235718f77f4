/**
 * The timer in a real child process, killed with SIGKILL while timers are pending, then started
 * again on the same data directory: pending timers are re-armed on the boot clock (the process's
 * own monotonic clock starts anew), a deadline that passed meanwhile fires at once, a paused timer
 * keeps its time.
 */
import assert from "node:assert/strict";
import { startBroker } from "../helpers/broker.ts";
import { waitFor } from "../helpers/wait.ts";
import { FakeHandler } from "./fake_handler.ts";
import { spawnTimer } from "./timer_process.ts";

Deno.test("timer process killed with kill -9 re-arms its pending timers on restart", async () => {
  await using broker = await startBroker();
  const dataDir = await Deno.makeTempDir({ prefix: "timer-kill-" });
  const h = await FakeHandler.connect(broker.url);
  let proc = await spawnTimer({ mqttUrl: broker.url, dataDir });
  try {
    const sent = performance.now();
    const [long, short, paused] = await Promise.all([
      h.set({ machine_id: 1, session_id: "long", op: "start", duration_ms: 4_000 }),
      h.set({ machine_id: 2, session_id: "short", op: "start", duration_ms: 300 }),
      h.set({ machine_id: 3, session_id: "paused", op: "start", duration_ms: 5_000 }),
    ]);
    const replied = performance.now();
    assert.equal(long.state, "running");
    const held = await h.set({ machine_id: 3, session_id: "paused", op: "pause" });
    assert.equal(held.state, "paused");

    await proc.kill9();
    const killedAt = performance.now();
    assert.ok(killedAt - sent < 300, "killed before the short deadline");
    assert.equal(h.expired.length, 0);

    // The hub is down while the short session's deadline passes.
    await waitFor(() => performance.now() - replied > 400, { message: "short deadline passed" });
    proc = await spawnTimer({ mqttUrl: broker.url, dataDir });

    // The deadline that passed during the downtime fires at once.
    await waitFor(() => h.expired.some((r) => r.request.session_id === "short"), {
      message: "expiry of the session that ended during the downtime",
    });
    const s = h.expired.find((r) => r.request.session_id === "short");
    assert.ok(s && s.at - proc.readyAt < 500, `fired ${s && s.at - proc.readyAt} ms after ready`);
    assert.ok(Math.abs((s?.request.deadline ?? 0) - (short.deadline ?? 0)) <= 50);
    assert.equal(s?.ended, true);

    // The long session ends on its original deadline, though its process was replaced.
    await waitFor(() => h.expired.some((r) => r.request.session_id === "long"), {
      timeoutMs: 15_000,
      message: "expiry of the long session",
    });
    const l = h.expired.find((r) => r.request.session_id === "long");
    assert.ok(l);
    const early = sent + 4_000 - l.at;
    const late = l.at - (replied + 4_000);
    assert.ok(early <= 5 && late <= 100, `long session: ${-early} .. ${late} ms off its deadline`);

    // The paused session kept its time through the kill.
    const still = await h.set({ machine_id: 3, session_id: "paused", op: "pause" });
    assert.deepEqual(still, held);
    assert.ok(paused.remaining_ms - held.remaining_ms < 300);
    const back = await h.set({ machine_id: 3, session_id: "paused", op: "resume" });
    assert.equal(back.state, "running");
    assert.ok(held.remaining_ms - back.remaining_ms < 50);
    assert.equal(h.expired.length, 2, "each expiry once");
  } finally {
    await proc.stop();
    await h.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
