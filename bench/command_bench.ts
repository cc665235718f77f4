/**
 * The command round trip of the machine handler: a command published on `machines/commands`
 * until its reply arrives on `machines/responses/{origin}`, including the durable write, the
 * update to the dispenser and its ack (4 broker passes: command, update, ack, reply), with the
 * timer armed in parallel. The handler and the timer run as in production, each in its Worker
 * under the supervisor; the dispensers are the simulator in its own process
 * (`main.ts simulate`), so that neither shares a thread with the load generator.
 *
 * Each of `inFlight` loops owns its own bays and alternates activate / deactivate on them, so
 * no command waits behind another on the same bay and none is a duplicate.
 *
 *   deno run -A bench/command_bench.ts [--machines 80] [--in-flight 64] [--duration-ms 3000]
 *
 * runs it beside the raw relay baseline (bare mqtt.js, the same 4 broker passes).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { hubActors } from "../actors/mod.ts";
import { Supervisor } from "../actors/runtime/supervisor.ts";
import { parseConfig } from "../lib/config.ts";
import { MqttAdapter } from "../lib/mqtt_adapter.ts";
import { RpcClient } from "../lib/rpc_client.ts";
import type { MqttClient } from "mqtt";
import { topics } from "../protocol/topics.ts";
import { bareClient, compare, type LatencyStats, startRelay } from "./relay.ts";

const decoder = new TextDecoder();
/** The start of every reply the handler serialises: its correlation id, then its status. */
const REPLY_HEAD = /^\{"correlation_id":"([^"]+)","status":"(ok|error)"/;
const mainTs = new URL("../main.ts", import.meta.url).pathname;
const quiet = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };

export interface CommandBenchOptions {
  mqttUrl: string;
  /** The broker's process, to count its CPU per round trip (omit when it is not known). */
  brokerPid?: number | null;
  machines: number;
  inFlight: number;
  /** Measured time of each side (command and relay), split over `rounds`. */
  durationMs: number;
  /** Alternating rounds, relay then command, so both see the same machine conditions. */
  rounds?: number;
}

/** CPU milliseconds per command, by process (NaN where not known). */
export interface CommandCpu {
  /** The hub's actor threads (handler, timer, store writer) and their V8 helper threads. */
  actors: number;
  /** The load generator: this process's main thread. */
  load: number;
  /** The simulated dispensers' process. */
  dispensers: number;
  broker: number;
  total: number;
}

export interface CommandBenchResult {
  machines: number;
  inFlight: number;
  rounds: number;
  /** The raw relay (4 broker passes); `cpu_ms`: this process's and the broker's per round trip. */
  relay: LatencyStats & { cpu_ms: number };
  command: LatencyStats & { cpu: CommandCpu };
}

/**
 * Runs the handler (and timer) under a supervisor with `machines` simulated dispensers, and the
 * raw relay beside it, in alternating rounds.
 */
export async function commandBench(opts: CommandBenchOptions): Promise<CommandBenchResult> {
  const { mqttUrl, machines, inFlight, durationMs, brokerPid, rounds = 4 } = opts;
  if (!Number.isInteger(rounds) || rounds < 1) {
    throw new RangeError(`rounds must be a positive integer, got ${rounds}`);
  }
  if (!Number.isInteger(machines) || machines < 1 || machines > 10_000) {
    throw new RangeError(`machines must be an integer 1..10000, got ${machines}`);
  }
  if (!Number.isInteger(inFlight) || inFlight < 1 || inFlight > machines) {
    throw new RangeError(`inFlight must be an integer 1..machines (${machines}), got ${inFlight}`);
  }
  if (!(durationMs > 0)) throw new RangeError(`durationMs must be positive, got ${durationMs}`);
  const ids = Array.from({ length: machines }, (_, i) => i + 1);
  const dataDir = await Deno.makeTempDir({ prefix: "command-bench-" });
  const config = parseConfig({ machines: ids.map((id) => ({ id })) }, "command bench");
  const supervisor = new Supervisor({ mqttUrl, dataDir, logger: quiet });
  for (const spec of hubActors(config)) {
    if (spec.name === "machine_handler" || spec.name === "timer") supervisor.add(spec);
  }
  const fleet = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", mainTs, "simulate", "--mqtt-url", mqttUrl, "--machines", String(machines)],
    stdin: "null",
    stdout: "null",
    stderr: "null",
    env: { HUB_LOG_LEVEL: "error" },
  }).spawn();
  const mqtt = new MqttAdapter({
    url: mqttUrl,
    clientId: `command-bench-${crypto.randomUUID().slice(0, 8)}`,
    logger: quiet,
  });
  let client: RpcClient | null = null;
  const clients: MqttClient[] = [];
  const stops: Array<() => Promise<void>> = [];
  try {
    await supervisor.start();
    await mqtt.connect();
    client = new RpcClient(mqtt, "bench", { logger: quiet, defaultTimeoutMs: 30_000 });
    await client.start();
    const rpc = client;
    // Every dispenser online and in step with the handler.
    const deadline = performance.now() + 60_000;
    for (;;) {
      const r = await rpc.request("machines/status/request", {}, { timeoutMs: 5_000 })
        .catch(() => null);
      if (
        r?.status === "ok" &&
        r.data.machines.every((m) => m.online && m.acked_version === m.desired_version)
      ) break;
      if (performance.now() > deadline) {
        throw new Error("command bench: dispensers did not come online within 60 s");
      }
      await new Promise((res) => setTimeout(res, 100));
    }

    // The load generator is a bare mqtt.js client, like the relay's requester: the round trip
    // measured is the hub's, not the requester's own validation.
    const bare = await bareClient(mqttUrl, `command-bench-load-${crypto.randomUUID().slice(0, 8)}`);
    clients.push(bare);
    await bare.subscribeAsync(topics.originResponses("bench"), { qos: 1 });
    const pending = new Map<
      string,
      (reply: { status: string; error?: { message: string } }) => void
    >();
    // Like the relay's requester, it matches replies without parsing them whole: the reply's
    // leading `correlation_id` and `status` are read in place; only an error is parsed.
    bare.on("message", (_t, payload) => {
      const text = decoder.decode(payload);
      const head = REPLY_HEAD.exec(text);
      const reply = head && head[2] === "ok"
        ? { correlation_id: head[1], status: "ok" }
        : JSON.parse(text);
      const done = pending.get(reply.correlation_id);
      if (done) {
        pending.delete(reply.correlation_id);
        done(reply);
      }
    });
    const tag = crypto.randomUUID().slice(0, 8);
    let sent = 0;
    const send = (command: Record<string, unknown>) =>
      new Promise<{ status: string; error?: { message: string } }>((resolve) => {
        const correlation_id = `${tag}-${++sent}`;
        pending.set(correlation_id, resolve);
        bare.publish(
          topics.commands,
          JSON.stringify({ correlation_id, origin: "bench", sent_at: Date.now(), ...command }),
          { qos: 1 },
        );
      });
    // Loop i owns the bays i, i + inFlight, ... and alternates activate and deactivate on them,
    // so no command waits behind another on the same bay and none is a duplicate.
    let seq = 0;
    const loops = Array.from({ length: inFlight }, (_, i) => ({
      bays: ids.filter((_, j) => j % inFlight === i),
      next: 0,
      active: null as { machine_id: number; session_id: string } | null,
    }));
    const command = async (i: number) => {
      const l = loops[i];
      let body: Record<string, unknown>;
      if (l.active) {
        body = { action: "deactivate", ...l.active };
        l.active = null;
      } else {
        const machine_id = l.bays[l.next++ % l.bays.length];
        l.active = { machine_id, session_id: `bench-${machine_id}-${++seq}` };
        body = { action: "activate", duration_s: 600, ...l.active };
      }
      const r = await send(body);
      if (r.status !== "ok") {
        throw new Error(
          `command bench: ${body.action} on ${body.machine_id}: ${r.error?.message}`,
        );
      }
    };
    // The relay, on the same broker, with a request the size of a command.
    const relay = await startRelay(mqttUrl, 4, 180);
    stops.push(() => relay.stop());

    // Warm-up of the hub under load (compare() warms both sides sequentially too).
    const warm = performance.now() + Math.min(1_000, durationMs / 3);
    await Promise.all(loops.map(async (_, i) => {
      while (performance.now() < warm) await command(i);
    }));
    const broker = brokerPid ?? NaN;
    const [r, c] = await compare(() => relay.call(), command, {
      inFlight,
      durationMs,
      rounds,
      cpuOf: [
        { process: Deno.pid, broker },
        {
          process: Deno.pid,
          load: { pid: Deno.pid, tid: Deno.pid },
          dispensers: fleet.pid,
          broker,
        },
      ],
    });
    const rc = r.cpu_by!;
    const used = c.cpu_by!;
    const cpu: CommandCpu = {
      actors: used.process - used.load,
      load: used.load,
      dispensers: used.dispensers,
      broker: used.broker,
      total: used.process + used.dispensers + used.broker,
    };
    return {
      machines,
      inFlight,
      rounds,
      relay: { ...r, cpu_ms: rc.process + rc.broker },
      command: { ...c, cpu },
    };
  } finally {
    for (const stop of stops) await stop();
    client?.close();
    await mqtt.close();
    await Promise.all(clients.map((c) => c.endAsync()));
    await supervisor.stop();
    try {
      fleet.kill("SIGTERM");
    } catch {
      // already gone
    }
    await fleet.status;
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
}

const f = (n: number) => Number.isFinite(n) ? n.toFixed(3) : "-";
const fx = (a: number, b: number) => (a / b).toFixed(2) + "x";

function row(label: string, s: LatencyStats): string {
  return `${label.padEnd(34)} p50 ${f(s.p50).padStart(8)} ms  p99 ${f(s.p99).padStart(8)} ms  ` +
    `${s.throughput.toFixed(0).padStart(7)} /s  (n=${s.n})`;
}

/** The result as printed by `deno task bench`: both sides, their ratios and the CPU used. */
export function formatCommandBench(x: CommandBenchResult): string[] {
  const { relay: r, command: c } = x;
  return [
    row(`raw relay (4 passes)`, r),
    row(`command, ${x.machines} machines`, c),
    `  ratio command/relay: p50 ${fx(c.p50, r.p50)} (target <= 2x), ` +
    `p99 ${fx(c.p99, r.p99)} (<= 3x), throughput ` +
    `${(100 * c.throughput / r.throughput).toFixed(0)}% of relay (>= 50%)`,
    `  CPU per round trip: relay ${f(r.cpu_ms)} ms (relay process + broker); command ` +
    `${f(c.cpu.total)} ms = actors ${f(c.cpu.actors)} + load generator ${f(c.cpu.load)} + ` +
    `dispensers ${f(c.cpu.dispensers)} + broker ${f(c.cpu.broker)}`,
  ];
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      machines: { type: "string", default: "80" },
      "in-flight": { type: "string", default: "64" },
      "duration-ms": { type: "string", default: "4000" },
      rounds: { type: "string", default: "4" },
    },
  });
  const { startBroker } = await import("../tests/helpers/broker.ts");
  const broker = await startBroker();
  try {
    const result = await commandBench({
      mqttUrl: broker.url,
      brokerPid: broker.pid,
      machines: Number(values.machines),
      inFlight: Number(values["in-flight"]),
      durationMs: Number(values["duration-ms"]),
      rounds: Number(values.rounds),
    });
    console.log(`broker ${broker.kind}`);
    for (const line of formatCommandBench(result)) console.log(line);
  } finally {
    await broker.stop();
  }
}
