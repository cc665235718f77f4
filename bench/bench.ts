/**
 * `deno task bench`: every benchmark in one run, each beside the raw relay baseline measured in
 * the same run on the same broker (mosquitto with set_tcp_nodelay, started here on loopback).
 *
 *   deno task bench [--duration-ms N] [--only rpc,command,expiry] [--json FILE]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { startBroker } from "../tests/helpers/broker.ts";
import { commandBench, formatCommandBench } from "./command_bench.ts";
import { expiryBench } from "./expiry_bench.ts";
import type { LatencyStats } from "./relay.ts";
import { rpcBench } from "./rpc_bench.ts";

// Actor logs would drown the numbers; `HUB_LOG_LEVEL=info deno task bench` shows them.
if (!Deno.env.get("HUB_LOG_LEVEL")) Deno.env.set("HUB_LOG_LEVEL", "error");

const { values } = parseArgs({
  args: Deno.args,
  options: {
    "duration-ms": { type: "string", default: "3000" },
    only: { type: "string" },
    json: { type: "string" },
  },
});
const durationMs = Number(values["duration-ms"]);
if (!(durationMs > 0)) throw new RangeError("--duration-ms must be a positive number");
const only = values.only ? new Set(values.only.split(",")) : null;
const want = (name: string) => !only || only.has(name);

const f = (n: number) => Number.isFinite(n) ? n.toFixed(3) : "-";
const fx = (a: number, b: number) => (a / b).toFixed(2) + "x";
function row(label: string, s: LatencyStats) {
  return `${label.padEnd(34)} p50 ${f(s.p50).padStart(8)} ms  p99 ${f(s.p99).padStart(8)} ms  ` +
    `${s.throughput.toFixed(0).padStart(7)} /s  (n=${s.n})`;
}

const broker = await startBroker();
console.log(`broker: ${broker.kind} ${broker.url}; ${durationMs} ms per measurement\n`);
const results: Record<string, unknown> = {};
try {
  if (want("rpc")) {
    console.log("== Typed RPC round trip vs raw relay (2 broker passes) ==");
    const rs = await rpcBench({ mqttUrl: broker.url, durationMs, inFlights: [1, 64] });
    for (const r of rs) {
      console.log(row(`raw relay, ${r.inFlight} in flight`, r.relay));
      console.log(row(`typed RPC, ${r.inFlight} in flight`, r.rpc));
      console.log(
        `  ratio RPC/relay: p50 ${fx(r.rpc.p50, r.relay.p50)}, p99 ${
          fx(r.rpc.p99, r.relay.p99)
        }, ` +
          `throughput ${(100 * r.rpc.throughput / r.relay.throughput).toFixed(0)}% of relay` +
          (r.inFlight === 1 ? `  (target p50 <= 1.5x)` : ""),
      );
    }
    results.rpc = rs;
    console.log();
  }
  if (want("command")) {
    console.log("== Command round trip vs raw relay (4 broker passes), 64 in flight ==");
    console.log("   command -> handler (durable commit) -> update -> dispenser ack -> reply");
    const inFlight = 64;
    const commands: Record<string, unknown> = {};
    for (const machines of [80, 1000]) {
      // The relay and the hub in alternating rounds, on the same broker.
      const c = await commandBench({
        mqttUrl: broker.url,
        brokerPid: broker.pid,
        machines,
        inFlight,
        durationMs,
      });
      for (const line of formatCommandBench(c)) console.log(line);
      commands[machines] = c;
    }
    results.command = commands;
    console.log();
  }
  if (want("expiry")) {
    console.log("== Expiry error: deactivation published minus paid deadline ==");
    const e = await expiryBench({ mqttUrl: broker.url, sessions: 240, machines: 80 });
    console.log(
      `${e.mode}, ${e.n} sessions in ${e.waves} waves on 80 bays: p50 ${f(e.p50)} ms  ` +
        `p99 ${f(e.p99)} ms  max ${f(e.max)} ms  (target p99 <= 50 ms); in the timer alone: ` +
        `p50 ${f(e.timer.p50)} ms  p99 ${f(e.timer.p99)} ms`,
    );
    results.expiry = e;
    console.log();
  }
} finally {
  await broker.stop();
}
if (values.json) await Deno.writeTextFile(values.json, JSON.stringify(results, null, 2));
