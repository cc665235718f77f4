import { silentLogger as quiet } from "../../lib/log.ts";
import assert from "node:assert/strict";
import { Supervisor } from "../../actors/runtime/supervisor.ts";
import { InvalidMessageError, RpcClosedError, RpcTimeoutError } from "../../lib/errors.ts";
import { MqttAdapter } from "../../lib/mqtt_adapter.ts";
import { RpcClient } from "../../lib/rpc_client.ts";
import { RpcServer } from "../../lib/rpc_server.ts";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { waitFor } from "../helpers/wait.ts";
import { echoContract } from "../fixtures/echo_contract.ts";

let n = 0;

async function adapter(broker: TestBroker): Promise<MqttAdapter> {
  const a = new MqttAdapter({
    url: broker.url,
    clientId: `rpc-test-${n++}`,
    logger: quiet,
    minBackoffMs: 50,
    maxBackoffMs: 200,
  });
  await a.connect();
  return a;
}

/** An echo server and a client, in this thread, on two connections. */
async function pair(broker: TestBroker) {
  const serverMqtt = await adapter(broker);
  const clientMqtt = await adapter(broker);
  const server = new RpcServer(serverMqtt, { contract: echoContract, logger: quiet });
  await server.handle("test/echo", async (req) => {
    if (req.delay_ms) await new Promise((r) => setTimeout(r, req.delay_ms));
    if (req.twice) {
      const topic = echoContract["test/echo"].replyTopic(req.origin);
      const again = JSON.stringify({
        correlation_id: req.correlation_id,
        status: "ok",
        data: { text: req.text, served_by: "late" },
      });
      setTimeout(() => serverMqtt.publish(topic, again), 20);
    }
    return { text: req.text, served_by: "server" };
  });
  const client = new RpcClient(clientMqtt, "tester", { contract: echoContract, logger: quiet });
  await client.start();
  return {
    server,
    client,
    serverMqtt,
    clientMqtt,
    async [Symbol.asyncDispose]() {
      client.close();
      await server.close();
      await clientMqtt.close();
      await serverMqtt.close();
    },
  };
}

Deno.test("RpcClient.request() round trips between two Workers", async () => {
  await using broker = await startBroker();
  const sup = new Supervisor({ mqttUrl: broker.url, dataDir: "/tmp", logger: quiet });
  sup.add({ name: "echo", url: new URL("../fixtures/echo_actor.ts", import.meta.url) });
  sup.add({ name: "caller", url: new URL("../fixtures/caller_actor.ts", import.meta.url) });
  await sup.start();
  const mqtt = await adapter(broker);
  try {
    const result = Promise.withResolvers<unknown>();
    await mqtt.subscribe("test/caller/result", (_t, p) => {
      result.resolve(JSON.parse(new TextDecoder().decode(p)));
    });
    await mqtt.publish("test/caller/go", "hello from worker to worker");
    const reply = await result.promise as {
      status: string;
      data: { text: string; served_by: string };
    };
    assert.equal(reply.status, "ok");
    assert.deepEqual(reply.data, { text: "hello from worker to worker", served_by: "echo" });
  } finally {
    await mqtt.close();
    await sup.stop();
  }
});

Deno.test("RpcClient.request() rejects with RpcTimeoutError when no reply comes", async () => {
  await using broker = await startBroker();
  await using p = await pair(broker);
  await assert.rejects(
    p.client.request("test/echo", { text: "slow", delay_ms: 500 }, { timeoutMs: 50 }),
    (err: unknown) => {
      assert.ok(err instanceof RpcTimeoutError);
      assert.equal(err.timeoutMs, 50);
      assert.match(err.message, /No response to test\/echo/);
      return true;
    },
  );
  assert.equal(p.client.stats.timeouts, 1);
  // The reply that comes after the timeout is ignored and counted, never delivered.
  await waitFor(() => p.client.stats.unmatched === 1, { message: "late reply counted" });
  assert.equal(p.client.inFlight, 0);
});

Deno.test("RpcClient.request() matches 1,000 concurrent requests to their callers", async () => {
  await using broker = await startBroker();
  await using p = await pair(broker);
  const texts = Array.from({ length: 1000 }, (_, i) => `msg-${i}-${crypto.randomUUID()}`);
  const replies = await Promise.all(
    texts.map((text) => p.client.call("test/echo", { text }, { timeoutMs: 20_000 })),
  );
  replies.forEach((r, i) => assert.equal(r.text, texts[i]));
  assert.equal(p.client.stats.matched, 1000);
  assert.equal(p.client.stats.unmatched, 0);
});

Deno.test("RpcClient.request() validates the request unless it is trusted", async () => {
  await using broker = await startBroker();
  await using p = await pair(broker);
  const bad = { text: 5 } as unknown as { text: string };
  await assert.rejects(p.client.request("test/echo", bad), InvalidMessageError);
  assert.equal(p.client.stats.sent, 0);
  // Trusted: sent as built; the server still validates it and refuses it.
  const res = await p.client.request("test/echo", bad, { trusted: true });
  assert.equal(p.client.stats.sent, 1);
  assert.equal(res.status, "error");
  assert.equal(res.status === "error" ? res.error.code : null, "invalid_payload");
});

Deno.test("RpcClient ignores and counts a second, late reply to a settled request", async () => {
  await using broker = await startBroker();
  await using p = await pair(broker);
  const r = await p.client.call("test/echo", { text: "once", twice: true });
  assert.equal(r.served_by, "server");
  await waitFor(() => p.client.stats.unmatched === 1, { message: "duplicate reply counted" });
  assert.equal(p.client.stats.matched, 1);
});

Deno.test("RpcServer answers garbage with errors to the origin and stays alive", async () => {
  await using broker = await startBroker();
  await using p = await pair(broker);
  const replies: Array<Record<string, unknown>> = [];
  await p.clientMqtt.subscribe("test/echo/responses/tester", (_t, payload) => {
    replies.push(JSON.parse(new TextDecoder().decode(payload)));
  });
  const send = (body: string) => p.clientMqtt.publish("test/echo", body);
  // Not JSON at all: no origin to answer, logged and counted.
  await send("\u0000\u00ff not json {");
  // JSON, wrong types: answered with invalid_payload.
  await send(JSON.stringify({ correlation_id: "c-1", origin: "tester", sent_at: 1, text: 42 }));
  // Missing fields.
  await send(JSON.stringify({ correlation_id: "c-2", origin: "tester" }));
  // 1 MiB payload: answered with payload_too_large.
  await send(JSON.stringify({
    correlation_id: "c-3",
    origin: "tester",
    sent_at: 1,
    text: "x".repeat(1024 * 1024),
  }));
  // A JSON array and a bad origin: nobody to answer.
  await send("[1,2,3]");
  await send(
    JSON.stringify({ correlation_id: "c-4", origin: "Not A Node!", sent_at: 1, text: "" }),
  );
  await waitFor(() => replies.length >= 3, { message: "three error replies" });
  const byId = Object.fromEntries(replies.map((r) => [r.correlation_id, r]));
  const err = (id: string) => (byId[id] as { error: { code: string; message: string } }).error;
  assert.equal(byId["c-1"].status, "error");
  assert.equal(err("c-1").code, "invalid_payload");
  assert.match(err("c-1").message, /text: Invalid input: expected string/);
  assert.equal(err("c-2").code, "invalid_payload");
  assert.match(err("c-2").message, /sent_at/);
  assert.equal(err("c-3").code, "payload_too_large");
  await waitFor(() => p.server.stats.unanswerable === 3, { message: "3 unanswerable counted" });
  // Still serving.
  assert.equal((await p.client.call("test/echo", { text: "alive" })).text, "alive");
});

Deno.test("RpcClient requests succeed again after the broker is killed and restarted", async () => {
  await using broker = await startBroker();
  await using p = await pair(broker);
  let ok = 0;
  let failed = 0;
  let stop = false;
  const traffic = (async () => {
    while (!stop) {
      try {
        await p.client.call("test/echo", { text: "x" }, { timeoutMs: 300 });
        ok++;
      } catch (err) {
        assert.ok(err instanceof RpcTimeoutError || err instanceof Error);
        failed++;
      }
    }
  })();
  await waitFor(() => ok > 20, { message: "traffic flowing" });
  await broker.kill();
  await waitFor(() => failed > 0, { message: "requests failing while the broker is down" });
  await broker.restart();
  const before = ok;
  await waitFor(() => ok > before + 20, { timeoutMs: 15_000, message: "traffic after restart" });
  stop = true;
  await traffic;
  assert.ok(p.clientMqtt.stats.connects >= 2, "client reconnected");
  assert.ok(p.serverMqtt.stats.connects >= 2, "server reconnected");
});

Deno.test("RpcClient.close() fails in-flight requests with RpcClosedError", async () => {
  await using broker = await startBroker();
  await using p = await pair(broker);
  const inflight = p.client.request("test/echo", { text: "pending", delay_ms: 300 });
  p.client.close();
  await assert.rejects(inflight, RpcClosedError);
  await assert.rejects(p.client.request("test/echo", { text: "after" }), RpcClosedError);
});
