import { silentLogger as quiet } from "../../lib/log.ts";
import assert from "node:assert/strict";
import { Supervisor } from "../../actors/runtime/supervisor.ts";
import { MqttAdapter } from "../../lib/mqtt_adapter.ts";
import { RpcClient } from "../../lib/rpc_client.ts";
import { startBroker } from "../helpers/broker.ts";
import { waitFor } from "../helpers/wait.ts";
import { echoContract } from "../fixtures/echo_contract.ts";

const echoActor = new URL("../fixtures/echo_actor.ts", import.meta.url);

Deno.test("Supervisor restarts a crashed actor, which serves again", async () => {
  await using broker = await startBroker();
  const restarts: string[] = [];
  const sup = new Supervisor({
    mqttUrl: broker.url,
    dataDir: "/tmp",
    logger: quiet,
    minBackoffMs: 50,
    onRestart: (name) => restarts.push(name),
  });
  sup.add({ name: "echo", url: echoActor });
  await sup.start();
  const mqtt = new MqttAdapter({ url: broker.url, clientId: "t-sup", logger: quiet });
  await mqtt.connect();
  const client = new RpcClient(mqtt, "tester", { contract: echoContract, logger: quiet });
  await client.start();
  try {
    assert.equal((await client.call("test/echo", { text: "a" })).text, "a");
    await mqtt.publish("test/crash", "{}");
    await waitFor(() => restarts.length === 1, { message: "restart" });
    await waitFor(() => sup.status()[0].phase === "running", { message: "running again" });
    const r = await client.call("test/echo", { text: "b" }, { timeoutMs: 5_000 });
    assert.equal(r.text, "b");
    assert.equal(sup.status()[0].restarts, 1);
    assert.match(sup.status()[0].last_error ?? "", /crash requested by test/);
  } finally {
    client.close();
    await mqtt.close();
    await sup.stop();
  }
});

Deno.test("Supervisor.stop() lets an actor finish its in-flight request first", async () => {
  await using broker = await startBroker();
  const sup = new Supervisor({ mqttUrl: broker.url, dataDir: "/tmp", logger: quiet });
  sup.add({ name: "echo", url: echoActor });
  await sup.start();
  const mqtt = new MqttAdapter({ url: broker.url, clientId: "t-sup-stop", logger: quiet });
  await mqtt.connect();
  const client = new RpcClient(mqtt, "tester", { contract: echoContract, logger: quiet });
  await client.start();
  try {
    const inflight = client.call("test/echo", { text: "slow", delay_ms: 300 });
    await waitFor(() => sup.status()[0].detail !== undefined && client.inFlight === 1);
    // Give the request time to reach the actor before stopping (it is already published).
    await waitFor(async () => {
      const probe = await client.call("test/echo", { text: "probe" });
      return probe.text === "probe";
    });
    const stopping = sup.stop();
    assert.equal((await inflight).text, "slow");
    await stopping;
    assert.equal(sup.status()[0].phase, "stopped");
  } finally {
    client.close();
    await mqtt.close();
    await sup.stop();
  }
});
