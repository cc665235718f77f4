import assert from "node:assert/strict";
import { FakeClock } from "../../lib/clock.ts";
import { SimDispenser, type SimDispenserOptions } from "../../sim/dispenser.ts";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { waitFor } from "../helpers/wait.ts";
import { HubProbe, quiet, retainedAvailability } from "./probe.ts";

interface Rig {
  broker: TestBroker;
  probe: HubProbe;
  d: SimDispenser;
  clock: FakeClock;
  [Symbol.asyncDispose](): Promise<void>;
}

async function rig(options: Partial<SimDispenserOptions> = {}): Promise<Rig> {
  const broker = await startBroker();
  const probe = await HubProbe.start(broker.url);
  const clock = new FakeClock();
  const d = new SimDispenser({ id: 7, mqttUrl: broker.url, clock, logger: quiet, ...options });
  await d.start();
  return {
    broker,
    probe,
    d,
    clock,
    async [Symbol.asyncDispose]() {
      await d.stop();
      await probe.close();
      await broker.stop();
    },
  };
}

/** Sends an update and waits for its ack. */
async function roundTrip(r: Rig, u: Parameters<HubProbe["send"]>[1]) {
  const cid = await r.probe.send(r.d.id, u);
  return await waitFor(() => r.probe.ackFor(cid), { message: `ack of version ${u.version}` });
}

Deno.test("SimDispenser applies a newer version and acks it with the dispensing state", async () => {
  await using r = await rig();
  const changes: boolean[] = [];
  r.d.onChange((s) => changes.push(s.dispensing));
  const deadline = r.clock.now() + 600_000;
  const ack = await roundTrip(r, {
    version: 1,
    status: "active",
    dispense: true,
    session_id: "s-1",
    deadline,
    remaining_s: 600,
  });
  assert.equal(ack.status, "ok");
  assert.deepEqual(ack.data, { version: 1, dispensing: true });
  const s = r.d.state;
  assert.equal(s.version, 1);
  assert.equal(s.dispensing, true);
  assert.equal(s.status, "active");
  assert.equal(s.session_id, "s-1");
  assert.equal(s.deadline, deadline);
  assert.equal(s.remaining_ms, 600_000);
  assert.equal(s.updates_received, 1);
  assert.equal(s.acks_sent, 1);
  assert.deepEqual(changes, [true]);

  const off = await roundTrip(r, { version: 2, status: "available", dispense: false });
  assert.deepEqual(off.status === "ok" && off.data, { version: 2, dispensing: false });
  assert.equal(r.d.state.dispensing, false);
  assert.equal(r.d.state.session_id, null);
  assert.deepEqual(changes, [true, false]);
});

Deno.test("SimDispenser re-acks an old version without re-applying it", async () => {
  await using r = await rig();
  await roundTrip(r, { version: 5, status: "active", dispense: true, remaining_s: 60 });
  let applied = 0;
  r.d.onChange(() => applied++);
  // A retry of version 5 and a late version 4 that says the opposite.
  const again = await roundTrip(r, {
    version: 5,
    status: "active",
    dispense: true,
    remaining_s: 60,
  });
  assert.deepEqual(again.status === "ok" && again.data, { version: 5, dispensing: true });
  const stale = await roundTrip(r, { version: 4, status: "available", dispense: false });
  assert.deepEqual(stale.status === "ok" && stale.data, { version: 4, dispensing: true });
  assert.equal(applied, 0);
  assert.equal(r.d.state.version, 5);
  assert.equal(r.d.state.dispensing, true);
  assert.equal(r.d.state.updates_received, 3);
  assert.equal(r.d.state.acks_sent, 3);
});

Deno.test("SimDispenser answers an invalid update that names its version with an error ack", async () => {
  await using r = await rig();
  await r.probe.mqtt.publish(
    "machines/7/update",
    JSON.stringify({ correlation_id: "bad-1", version: 3, dispense: "yes" }),
  );
  const ack = await waitFor(() => r.probe.ackFor("bad-1"), { message: "error ack" });
  assert.equal(ack.status, "error");
  assert.equal(ack.status === "error" && ack.error.code, "invalid_payload");
  assert.equal(r.d.state.version, 0);
});

Deno.test("SimDispenser heartbeat carries uptime, version, dispensing, ball level and fault", async () => {
  await using r = await rig({ keepaliveS: 5 });
  // One heartbeat right after connecting.
  await waitFor(() => r.probe.heartbeatsOf(7).length === 1, { message: "first heartbeat" });
  await roundTrip(r, { version: 3, status: "active", dispense: true, remaining_s: 600 });
  r.clock.advance(5_000);
  const hb = await waitFor(() => r.probe.heartbeatsOf(7)[1], { message: "periodic heartbeat" });
  assert.equal(hb.uptime_s, 5);
  assert.equal(hb.version, 3);
  assert.equal(hb.dispensing, true);
  assert.equal(hb.ball_level, "full");
  assert.equal(hb.fault, null);
  assert.equal(hb.sent_at, r.clock.now());
  r.clock.advance(4_999);
  r.clock.advance(1);
  const hb3 = await waitFor(() => r.probe.heartbeatsOf(7)[2], { message: "third heartbeat" });
  assert.equal(hb3.uptime_s, 10);
});

Deno.test("SimDispenser drains the hopper while dispensing and refill() fills it", async () => {
  // 10 % per minute: full (>= 75 %) until 2.5 min, medium (>= 40 %) until 6 min, low (>= 15 %)
  // until 8.5 min, urgent until 10 min.
  await using r = await rig({ drainPerMinute: 10, keepaliveS: 60 });
  await roundTrip(r, { version: 1, status: "active", dispense: true, remaining_s: 3600 });
  const levels: string[] = [];
  for (let minute = 1; minute <= 11; minute++) {
    r.clock.advance(60_000);
    const hb = await waitFor(() => r.probe.heartbeatsOf(7)[minute], { message: `hb ${minute}` });
    levels.push(hb.ball_level);
  }
  assert.deepEqual(levels, [
    "full",
    "full",
    "medium",
    "medium",
    "medium",
    "medium",
    "low",
    "low",
    "urgent",
    "empty",
    "empty",
  ]);
  assert.equal(r.d.state.dispensing, true, "an empty hopper is reported, not a fault");
  r.d.refill();
  assert.equal(r.d.state.ball_level, "full");
  const after = await waitFor(() => r.probe.heartbeatsOf(7)[12], { message: "refill heartbeat" });
  assert.equal(after.ball_level, "full");
  // Not dispensing: no drain.
  await roundTrip(r, { version: 2, status: "available", dispense: false });
  r.clock.advance(3_600_000);
  assert.equal(r.d.state.ball_level, "full");
});

Deno.test("SimDispenser switches off at the deadline by itself when the hub is gone", async () => {
  await using r = await rig();
  await roundTrip(r, { version: 1, status: "active", dispense: true, remaining_s: 90 });
  await r.probe.close(); // the hub disappears
  const switchedOff: number[] = [];
  r.d.onChange((s) => {
    if (!s.dispensing) switchedOff.push(s.remaining_ms ?? -1);
  });
  r.clock.advance(60_000);
  assert.equal(r.d.state.dispensing, true);
  assert.equal(r.d.state.remaining_ms, 30_000);
  r.clock.advance(29_999);
  assert.equal(r.d.state.dispensing, true);
  r.clock.advance(1);
  assert.equal(r.d.state.dispensing, false);
  assert.equal(r.d.state.remaining_ms, 0);
  assert.equal(r.d.state.version, 1, "the failsafe does not invent versions");
  assert.deepEqual(switchedOff, [0]);
});

Deno.test("SimDispenser counts down from the deadline when remaining_s is absent", async () => {
  await using r = await rig();
  await roundTrip(r, {
    version: 1,
    status: "active",
    dispense: true,
    deadline: r.clock.now() + 10_000,
    remaining_s: null,
  });
  r.clock.advance(10_000);
  assert.equal(r.d.state.dispensing, false);
  const zero = await roundTrip(r, { version: 2, status: "active", dispense: true, remaining_s: 0 });
  assert.deepEqual(zero.status === "ok" && zero.data, { version: 2, dispensing: false });
});

Deno.test("SimDispenser with drop_acks applies updates but never acks", async () => {
  await using r = await rig();
  r.d.misbehave({ drop_acks: true });
  await r.probe.send(7, { version: 1, status: "active", dispense: true, remaining_s: 60 });
  await waitFor(() => r.d.state.version === 1, { message: "applied" });
  assert.equal(r.d.state.dispensing, true);
  // Barrier: after reset the next ack arrives; the dropped one never did.
  r.d.reset();
  await roundTrip(r, { version: 2, status: "active", dispense: true, remaining_s: 60 });
  assert.equal(r.probe.acks.length, 1);
  assert.equal(r.d.state.acks_sent, 1);
});

Deno.test("SimDispenser with ack_delay_ms acks only after the delay", async () => {
  await using r = await rig();
  r.d.misbehave({ ack_delay_ms: 2_000 });
  r.d.misbehave({}); // merges: keeps the delay
  const cid = await r.probe.send(7, {
    version: 1,
    status: "active",
    dispense: true,
    remaining_s: 60,
  });
  await waitFor(() => r.d.state.version === 1, { message: "applied" });
  assert.equal(r.d.state.acks_sent, 0);
  r.clock.advance(1_999);
  assert.equal(r.d.state.acks_sent, 0);
  r.clock.advance(1);
  assert.equal(r.d.state.acks_sent, 1);
  const ack = await waitFor(() => r.probe.ackFor(cid), { message: "delayed ack" });
  assert.equal(ack.status, "ok");
});

Deno.test("SimDispenser when silent sends no heartbeats but stays connected", async () => {
  await using r = await rig({ keepaliveS: 1 });
  await waitFor(() => r.probe.heartbeatsOf(7).length === 1, { message: "first heartbeat" });
  r.d.misbehave({ silent: true });
  r.clock.advance(5_000);
  // Barrier: anything published before this ack has arrived by the time the ack does.
  await roundTrip(r, { version: 1 });
  assert.equal(r.probe.heartbeatsOf(7).length, 1);
  assert.equal(r.d.state.online, true);
  r.d.misbehave({ silent: false });
  r.clock.advance(1_000);
  await waitFor(() => r.probe.heartbeatsOf(7).length === 2, { message: "heartbeats again" });
});

Deno.test("SimDispenser jam stops dispensing, is reported, and refuses to dispense until cleared", async () => {
  await using r = await rig();
  await roundTrip(r, { version: 1, status: "active", dispense: true, remaining_s: 600 });
  r.d.misbehave({ jam: true });
  assert.equal(r.d.state.fault, "jam");
  assert.equal(r.d.state.dispensing, false);
  const hb = await waitFor(() => r.probe.heartbeatsOf(7).find((h) => h.fault === "jam"), {
    message: "jam heartbeat",
  });
  assert.equal(hb.dispensing, false);
  const refused = await roundTrip(r, {
    version: 2,
    status: "active",
    dispense: true,
    remaining_s: 500,
  });
  assert.equal(refused.status, "error");
  assert.equal(refused.status === "error" && refused.error.code, "jam");
  assert.equal(refused.data.version, 2);
  // Switching off works while jammed.
  const off = await roundTrip(r, { version: 3, status: "maintenance", dispense: false });
  assert.equal(off.status, "ok");
  await roundTrip(r, { version: 4, status: "active", dispense: true, remaining_s: 100 });
  r.d.misbehave({ jam: false });
  assert.equal(r.d.state.fault, null);
  assert.equal(r.d.state.dispensing, true, "resumes once cleared, the time still left");
});

Deno.test("SimDispenser with empty reports ball level empty until refilled", async () => {
  await using r = await rig();
  r.d.misbehave({ empty: true });
  const hb = await waitFor(() => r.probe.heartbeatsOf(7).find((h) => h.ball_level === "empty"), {
    message: "empty heartbeat",
  });
  assert.equal(hb.fault, null);
  r.d.refill();
  assert.equal(r.d.state.ball_level, "full");
  assert.throws(() => r.d.misbehave({ ack_delay_ms: -1 }), RangeError);
});

Deno.test("SimDispenser goOffline() fires the retained last will; comeBack() sends the birth", async () => {
  await using r = await rig({ keepaliveS: 7 });
  await waitFor(() => r.probe.lastAvailability(7)?.msg.state === "online", { message: "birth" });
  await r.d.goOffline();
  assert.equal(r.d.state.online, false);
  await waitFor(() => r.probe.lastAvailability(7)?.msg.state === "offline", {
    message: "last will",
  });
  assert.deepEqual(await retainedAvailability(r.broker.url, 7), { state: "offline" });
  // The countdown keeps running while offline.
  const cid = await r.probe.send(7, { version: 1, status: "active", dispense: true });
  await r.d.comeBack();
  assert.equal(r.d.state.online, true);
  await waitFor(() => r.probe.lastAvailability(7)?.msg.state === "online", { message: "rebirth" });
  assert.deepEqual(await retainedAvailability(r.broker.url, 7), {
    state: "online",
    keepalive_s: 7,
    firmware: "sim-1",
  });
  assert.equal(r.probe.ackFor(cid), undefined, "updates sent while offline are not seen");
  await roundTrip(r, { version: 2 });
});

Deno.test("SimDispenser keeps its failsafe countdown running while offline", async () => {
  await using r = await rig();
  await roundTrip(r, { version: 1, status: "active", dispense: true, remaining_s: 30 });
  await r.d.goOffline();
  r.clock.advance(30_000);
  assert.equal(r.d.state.dispensing, false);
  await r.d.comeBack();
  const hb = await waitFor(() => r.probe.heartbeatsOf(7).find((h) => h.version === 1), {
    message: "heartbeat after reconnect",
  });
  assert.equal(hb.dispensing, false);
});

Deno.test("SimDispenser stop() leaves a retained offline availability", async () => {
  const broker = await startBroker();
  try {
    const d = new SimDispenser({ id: 9, mqttUrl: broker.url, logger: quiet });
    await d.start();
    await d.stop();
    assert.deepEqual(await retainedAvailability(broker.url, 9), { state: "offline" });
  } finally {
    await broker.stop();
  }
});

Deno.test("SimDispenser reconnects by itself after a broker restart and is born again", async () => {
  await using r = await rig();
  await roundTrip(r, { version: 1, status: "active", dispense: true, remaining_s: 600 });
  await r.broker.kill();
  await waitFor(() => !r.d.state.online, { message: "connection lost" });
  await r.broker.restart();
  await waitFor(
    () => r.probe.availability.filter((a) => a.id === 7 && a.msg.state === "online").length === 2,
    { message: "birth after the restart" },
  );
  assert.equal(r.d.state.dispensing, true, "the session survives a broker restart");
  const ack = await roundTrip(r, {
    version: 2,
    status: "active",
    dispense: true,
    remaining_s: 500,
  });
  assert.deepEqual(ack.status === "ok" && ack.data, { version: 2, dispensing: true });
});
