/**
 * The timer with the real machine handler and simulated dispensers, over a real broker: paid time
 * ends the bay (its deactivation is published at the timer's deadline), and a stale expiry, as a
 * retry of the timer after a crash would send it, never ends a newer session.
 *
 * Sessions are at least 60 s by the protocol; to keep the test short, a session's timer is first
 * started with a short `duration_ms` through the timer's own API. The handler's own start is then
 * answered with that timer (start is idempotent per session) and the handler adopts its deadline.
 */
import assert from "node:assert/strict";
import { hubActors } from "../../actors/mod.ts";
import { Supervisor } from "../../actors/runtime/supervisor.ts";
import { parseConfig } from "../../lib/config.ts";
import { MqttAdapter } from "../../lib/mqtt_adapter.ts";
import { RpcClient } from "../../lib/rpc_client.ts";
import { DeviceUpdate } from "../../protocol/device.ts";
import { MachineState } from "../../protocol/machine.ts";
import { responseOf } from "../../protocol/common.ts";
import { TimerBatchResult } from "../../protocol/timer.ts";
import { parseMachineTopic, topics } from "../../protocol/topics.ts";
import { startFleet } from "../../sim/fleet.ts";
import { startBroker } from "../helpers/broker.ts";
import { waitFor } from "../helpers/wait.ts";
import { quiet } from "./harness.ts";

const TimerBatchReply = responseOf(TimerBatchResult);

Deno.test("timer with the machine handler: paid time ends the bay; stale expiries are ignored", async (t) => {
  await using broker = await startBroker();
  const dataDir = await Deno.makeTempDir({ prefix: "timer-e2e-" });
  const ids = [1, 2];
  const config = parseConfig({
    data_dir: dataDir,
    mqtt: { url: broker.url },
    machines: ids.map((id) => ({ id })),
  });
  const sup = new Supervisor({ mqttUrl: broker.url, dataDir, logger: quiet });
  const specs = hubActors(config).filter((s) => s.name === "timer" || s.name === "machine_handler");
  assert.deepEqual(specs.map((s) => s.name).sort(), ["machine_handler", "timer"]);
  for (const s of specs) sup.add(s);
  await sup.start();
  const fleet = await startFleet({ mqttUrl: broker.url, ids, control: false, logger: quiet });

  const mqtt = new MqttAdapter({ url: broker.url, clientId: "timer-e2e", logger: quiet });
  await mqtt.connect();
  const decoder = new TextDecoder();
  const updates: Array<{ id: number; u: DeviceUpdate; wall: number }> = [];
  const states = new Map<number, MachineState>();
  await mqtt.subscribe(topics.allMachines("update"), (topic, payload) => {
    const m = parseMachineTopic(topic);
    const u = DeviceUpdate.safeParse(JSON.parse(decoder.decode(payload)));
    if (m && u.success) updates.push({ id: m.machine_id, u: u.data, wall: Date.now() });
  });
  await mqtt.subscribe(topics.allMachines("state"), (topic, payload) => {
    const m = parseMachineTopic(topic);
    const s = MachineState.safeParse(JSON.parse(decoder.decode(payload)));
    if (m && s.success) states.set(m.machine_id, s.data);
  });
  // What the timer answered the handler, by session: the handler's operations go out after its
  // commit and do not hold up its commands, so the test waits for them where it needs them.
  const timerAnswered = new Map<string, string>();
  await mqtt.subscribe(topics.timerResponses("machine_handler"), (_topic, payload) => {
    const r = TimerBatchReply.safeParse(JSON.parse(decoder.decode(payload)));
    if (!r.success || r.data.status !== "ok") return;
    for (const item of r.data.data.results) {
      if (item.status === "ok") timerAnswered.set(item.data.session_id, item.data.state);
    }
  });
  const kiosk = new RpcClient(mqtt, "kiosk", { logger: quiet, defaultTimeoutMs: 10_000 });
  await kiosk.start();
  // Stands in for a timer that resends an old expiry (e.g. after a crash before writing it).
  const oldTimer = new RpcClient(mqtt, "timer", { logger: quiet, defaultTimeoutMs: 10_000 });
  await oldTimer.start();
  try {
    await waitFor(() => ids.every((id) => states.get(id)?.online), {
      timeoutMs: 15_000,
      message: "bays online",
    });

    await t.step("the bay is switched off at the paid deadline", async () => {
      const timer = await kiosk.call(topics.timerSet, {
        machine_id: 1,
        session_id: "paid-1",
        op: "start",
        duration_ms: 1_000,
      });
      const r = await kiosk.call(topics.commands, {
        machine_id: 1,
        action: "activate",
        duration_s: 60,
        session_id: "paid-1",
      });
      assert.equal(r.machine.status, "active");
      // The handler also switches idle bays off when they connect: only an update after the one
      // that switched this session on counts.
      const on = await waitFor(
        () => updates.find((x) => x.id === 1 && x.u.dispense && x.u.session_id === "paid-1"),
        { message: "bay 1 switched on" },
      );
      const off = await waitFor(
        () => updates.find((x) => x.id === 1 && !x.u.dispense && x.u.version > on.u.version),
        { message: "deactivation of bay 1" },
      );
      assert.ok(timer.deadline !== null);
      assert.ok(off.u.version > on.u.version);
      const error = off.wall - timer.deadline;
      assert.ok(error >= 0 && error <= 100, `deactivated ${error} ms after the paid deadline`);
      await waitFor(() => states.get(1)?.status === "available", { message: "bay 1 available" });
    });

    await t.step("a stale expiry does not end the newer session", async () => {
      await kiosk.call(topics.commands, {
        machine_id: 2,
        action: "activate",
        duration_s: 60,
        session_id: "old",
      });
      await kiosk.call(topics.commands, {
        machine_id: 2,
        action: "deactivate",
        session_id: "old",
      });
      await kiosk.call(topics.commands, {
        machine_id: 2,
        action: "activate",
        duration_s: 60,
        session_id: "new",
      });
      const before = updates.length;
      const res = await oldTimer.call(topics.timerExpired, {
        machine_id: 2,
        session_id: "old",
        deadline: Date.now(),
      });
      assert.deepEqual(res, { machine_id: 2, session_id: "old", ended: false });
      assert.equal(states.get(2)?.status, "active");
      assert.equal(states.get(2)?.session?.session_id, "new");
      // The timer itself cancelled "old" when the handler ended it, and still runs "new".
      await waitFor(() => timerAnswered.get("new") === "running", {
        message: "the timer started the handler's session",
      });
      const probe = await kiosk.call(topics.timerSet, {
        machine_id: 2,
        session_id: "new",
        op: "start",
        duration_ms: 1,
      });
      assert.equal(probe.state, "running");
      assert.ok(probe.remaining_ms > 50_000);
      const old = await kiosk.call(topics.timerSet, {
        machine_id: 2,
        session_id: "old",
        op: "cancel",
      });
      assert.equal(old.state, "cancelled");
      assert.ok(!updates.slice(before).some((x) => x.id === 2 && !x.u.dispense));
    });
  } finally {
    kiosk.close();
    oldTimer.close();
    await mqtt.close();
    await fleet.stop();
    await sup.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
});
