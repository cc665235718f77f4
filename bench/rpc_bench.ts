/**
 * Typed RPC round trip (validation, envelopes, correlation) against the raw relay with the same
 * number of broker passes (2: request and reply).
 *
 * @module
 */
import { silentLogger as quiet } from "../lib/log.ts";
import { MqttAdapter } from "../lib/mqtt_adapter.ts";
import { RpcClient } from "../lib/rpc_client.ts";
import { RpcServer } from "../lib/rpc_server.ts";
import { compare, type LatencyStats, startRelay } from "./relay.ts";

export interface RpcBenchResult {
  inFlight: number;
  rpc: LatencyStats;
  relay: LatencyStats;
}

export async function rpcBench(
  opts: { mqttUrl: string; durationMs: number; inFlights: number[] },
): Promise<RpcBenchResult[]> {
  const serverMqtt = new MqttAdapter({ url: opts.mqttUrl, clientId: "bench-srv", logger: quiet });
  const clientMqtt = new MqttAdapter({ url: opts.mqttUrl, clientId: "bench-cli", logger: quiet });
  await serverMqtt.connect();
  await clientMqtt.connect();
  const server = new RpcServer(serverMqtt, { logger: quiet });
  // A real hub request: one bay's status.
  const machine = {
    machine_id: 1,
    label: "Bay 1",
    status: "available" as const,
    session: null,
    hold: null,
    ball_level: "full" as const,
    online: true,
    last_seen: Date.now(),
    desired_version: 1,
    acked_version: 1,
    reason: null,
    fault: null,
    updated_at: Date.now(),
  };
  await server.handle("machines/status/request", () => Promise.resolve({ machines: [machine] }));
  const client = new RpcClient(clientMqtt, "bench", { logger: quiet });
  await client.start();
  const requestBytes = JSON.stringify({
    correlation_id: crypto.randomUUID(),
    origin: "bench",
    sent_at: Date.now(),
    machine_ids: [1],
  }).length;
  const relay = await startRelay(opts.mqttUrl, 2, requestBytes);
  const out: RpcBenchResult[] = [];
  try {
    for (const inFlight of opts.inFlights) {
      const [r, p] = await compare(() => relay.call(), async () => {
        const res = await client.request("machines/status/request", { machine_ids: [1] });
        if (res.status !== "ok") throw new Error(res.error.message);
      }, { inFlight, durationMs: opts.durationMs * 2 });
      out.push({ inFlight, rpc: p, relay: r });
    }
  } finally {
    client.close();
    await server.close();
    await relay.stop();
    await clientMqtt.close();
    await serverMqtt.close();
  }
  return out;
}
