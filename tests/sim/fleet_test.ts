import assert from "node:assert/strict";
import { parseConfig } from "../../lib/config.ts";
import { startHub } from "../../lib/hub.ts";
import { MqttAdapter } from "../../lib/mqtt_adapter.ts";
import { simControlTopic } from "../../sim/control.ts";
import { startFleet } from "../../sim/fleet.ts";
import { startBroker } from "../helpers/broker.ts";
import { waitFor } from "../helpers/wait.ts";
import { HubProbe, quiet, retainedAvailability } from "./probe.ts";

Deno.test("startFleet() connects 80 dispensers that all ack their updates", async () => {
  await using broker = await startBroker();
  const probe = await HubProbe.start(broker.url);
  const ids = Array.from({ length: 80 }, (_, i) => i + 1);
  const fleet = await startFleet({ mqttUrl: broker.url, ids, logger: quiet, batchSize: 20 });
  try {
    assert.equal(fleet.dispensers.size, 80);
    assert.ok(ids.every((id) => fleet.get(id).state.online));
    await waitFor(() => new Set(probe.availability.map((a) => a.id)).size === 80, {
      message: "80 births",
    });
    const cids = await Promise.all(
      ids.map((id) =>
        probe.send(id, { version: 1, status: "active", dispense: true, remaining_s: 600 })
      ),
    );
    await waitFor(() => cids.every((c) => probe.ackFor(c)), { message: "80 acks" });
    assert.ok(cids.every((c) => probe.ackFor(c)?.status === "ok"));
    assert.ok(ids.every((id) => fleet.get(id).state.dispensing));
    assert.deepEqual(
      new Set(probe.acks.map((a) => a.id)),
      new Set(ids),
      "each ack comes from its own machine's topic",
    );
    assert.throws(() => fleet.get(81), RangeError);
  } finally {
    await fleet.stop();
    await probe.close();
  }
  assert.deepEqual(await retainedAvailability(broker.url, 80), { state: "offline" });
});

Deno.test("startFleet() rejects bad ids before connecting", async () => {
  const base = { mqttUrl: "mqtt://127.0.0.1:1", logger: quiet };
  await assert.rejects(startFleet({ ...base, ids: [1, 1] }), /listed twice/);
  await assert.rejects(startFleet({ ...base, ids: [0] }), RangeError);
  await assert.rejects(startFleet({ ...base, ids: [1], keepaliveS: 0 }), RangeError);
  await assert.rejects(startFleet({ ...base, ids: [1], drainPerMinute: -1 }), RangeError);
  await assert.rejects(startFleet({ ...base, mqttUrl: "nope", ids: [1] }), /not a URL/);
});

Deno.test("sim/{id}/control steers a running fleet over MQTT", async () => {
  await using broker = await startBroker();
  const probe = await HubProbe.start(broker.url);
  const fleet = await startFleet({ mqttUrl: broker.url, ids: [3, 4], logger: quiet });
  const ctl = new MqttAdapter({ url: broker.url, clientId: "sim-test-ctl", logger: quiet });
  await ctl.connect();
  const send = (id: number, body: unknown) =>
    ctl.publish(simControlTopic(id), typeof body === "string" ? body : JSON.stringify(body));
  const d = fleet.get(3);
  try {
    await send(3, { jam: true, ack_delay_ms: 250 });
    await waitFor(() => d.state.fault === "jam", { message: "jam" });
    assert.equal(fleet.get(4).state.fault, null, "only the addressed dispenser");
    await send(3, { command: "reset" });
    await waitFor(() => d.state.fault === null, { message: "reset" });

    await send(3, { empty: true });
    await waitFor(() => d.state.ball_level === "empty", { message: "empty" });
    await send(3, { command: "refill" });
    await waitFor(() => d.state.ball_level === "full", { message: "refill" });

    // Invalid messages are ignored; the next valid one still works.
    await send(3, "not json");
    await send(3, { command: "explode" });
    await send(3, { ack_delay_ms: -5 });
    await send(3, { command: "offline" });
    await waitFor(() => probe.lastAvailability(3)?.msg.state === "offline", {
      message: "last will via control",
    });
    assert.equal(d.state.online, false);
    await send(3, { command: "online" });
    await waitFor(() => probe.lastAvailability(3)?.msg.state === "online", {
      message: "birth via control",
    });
    assert.equal(d.state.online, true);
    assert.equal(d.state.fault, null);
  } finally {
    await ctl.close();
    await fleet.stop();
    await probe.close();
  }
});

Deno.test("startHub({ simulate }) runs dispensers for the first configured bays and stops them", async () => {
  await using broker = await startBroker();
  const dataDir = await Deno.makeTempDir({ prefix: "hub-sim-" });
  const config = parseConfig({
    data_dir: dataDir,
    mqtt: { url: broker.url },
    http: { host: "127.0.0.1", port: 0 },
    machines: [{ id: 11 }, { id: 12 }, { id: 13 }],
    handler: { default_keepalive_s: 4 },
  });
  await assert.rejects(startHub({ config, logger: quiet, simulate: 4 }), RangeError);
  const hub = await startHub({ config, logger: quiet, simulate: 2 });
  try {
    assert.deepEqual([...hub.fleet!.dispensers.keys()], [11, 12]);
    assert.deepEqual(await retainedAvailability(broker.url, 12), {
      state: "online",
      keepalive_s: 4,
      firmware: "sim-1",
    });
  } finally {
    await hub.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
  assert.deepEqual(await retainedAvailability(broker.url, 11), { state: "offline" });
});
