/**
 * Expiry error: the time a bay's deactivation (`machines/{id}/update` with `dispense: false`) is
 * seen on the broker minus the session's paid deadline, over many sessions ending together.
 *
 * End to end when the machine handler is registered in `hubActors()`: the real timer and handler
 * actors (Workers, under a Supervisor) and a simulated fleet, all over the given broker. Each
 * session is activated through `machines/commands`; to keep the run short its timer is first
 * started with a short `duration_ms` through the timer's own API, so the handler's start is
 * answered with that timer (start is idempotent per session) and the handler adopts its deadline.
 * The paid deadline is the one the timer reports. Sessions run in waves of `machines` sessions,
 * one per bay, all ending within a few milliseconds of each other.
 *
 * Without a registered handler the bench plays the handler itself (answers `timer/expired` and
 * publishes the deactivation), measuring timer + broker only; `mode` says which was measured.
 *
 *   deno run -A bench/expiry_bench.ts [--sessions 200] [--machines 80] [--duration-ms 2000]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { hubActors } from "../actors/mod.ts";
import { Supervisor } from "../actors/runtime/supervisor.ts";
import { parseConfig } from "../lib/config.ts";
import { MqttAdapter } from "../lib/mqtt_adapter.ts";
import { RpcClient } from "../lib/rpc_client.ts";
import { RpcServer } from "../lib/rpc_server.ts";
import { DeviceUpdate } from "../protocol/device.ts";
import { TimerExpired } from "../protocol/timer.ts";
import { MachineState } from "../protocol/machine.ts";
import { parseMachineTopic, topics } from "../protocol/topics.ts";

const quiet = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };

export interface ExpiryBenchOptions {
  mqttUrl: string;
  /** Sessions measured in all (at least `machines`; run in waves of `machines`). */
  sessions: number;
  machines: number;
  /** Timer duration of each session (default 2000 ms; long enough for all activations). */
  durationMs?: number;
}

export interface ExpiryBenchResult {
  /** Expiry error in ms: deactivation seen minus paid deadline. */
  p50: number;
  p99: number;
  max: number;
  n: number;
  /** Part of it in the timer: its `timer/expired` send time minus the deadline (p50, p99). */
  timer: { p50: number; p99: number };
  /** `end-to-end`: timer + handler + dispensers + broker; `timer-only`: timer + broker. */
  mode: "end-to-end" | "timer-only";
  waves: number;
  /** Sessions left out because their activation finished too close to the deadline. */
  skipped: number;
}

/** The bench could not run to the end. */
export class ExpiryBenchError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ExpiryBenchError";
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[i];
}

async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > end) throw new ExpiryBenchError(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Pending {
  sessionId: string;
  deadline: number;
  /** Version of the update that switched the dispenser on for this session. */
  onVersion: number;
  armed: boolean;
  seenAt: number | null;
  /** `sent_at` of the timer's first `timer/expired` for the session. */
  expiredSentAt: number | null;
}

export async function expiryBench(opts: ExpiryBenchOptions): Promise<ExpiryBenchResult> {
  const { mqttUrl, sessions, machines } = opts;
  const durationMs = opts.durationMs ?? 2_000;
  if (!Number.isInteger(machines) || machines < 1 || machines > 1_000) {
    throw new RangeError(`machines must be 1..1000, got ${machines}`);
  }
  if (!Number.isInteger(sessions) || sessions < 1) {
    throw new RangeError(`sessions must be a positive integer, got ${sessions}`);
  }
  if (!(durationMs >= 200)) throw new RangeError(`durationMs must be >= 200, got ${durationMs}`);

  const ids = Array.from({ length: machines }, (_, i) => i + 1);
  const dataDir = await Deno.makeTempDir({ prefix: "expiry-bench-" });
  const config = parseConfig({
    hub_id: "bench",
    data_dir: dataDir,
    mqtt: { url: mqttUrl },
    machines: ids.map((id) => ({ id })),
  }, "expiry bench");
  const specs = hubActors(config).filter((s) => s.name === "timer" || s.name === "machine_handler");
  if (!specs.some((s) => s.name === "timer")) {
    throw new ExpiryBenchError("The timer actor is not registered in hubActors()");
  }
  const endToEnd = specs.some((s) => s.name === "machine_handler");
  const mode = endToEnd ? "end-to-end" : "timer-only";

  const cleanups: Array<() => Promise<unknown> | unknown> = [];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch {
        // keep cleaning up
      }
    }
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  };

  try {
    const sup = new Supervisor({ mqttUrl, dataDir, hubId: "bench", logger: quiet });
    for (const s of specs) sup.add(s);
    cleanups.push(() => sup.stop());
    await sup.start();

    const mqtt = new MqttAdapter({ url: mqttUrl, clientId: "expiry-bench", logger: quiet });
    await mqtt.connect();
    cleanups.push(() => mqtt.close());
    const pending = new Map<number, Pending>();
    const decoder = new TextDecoder();
    await mqtt.subscribe(topics.allMachines("update"), (topic, payload) => {
      const seenAt = Date.now();
      const t = parseMachineTopic(topic);
      const p = t && pending.get(t.machine_id);
      if (!p) return;
      const u = DeviceUpdate.safeParse(JSON.parse(decoder.decode(payload)));
      if (!u.success) return;
      if (u.data.dispense && u.data.session_id === p.sessionId) {
        p.onVersion = Math.max(p.onVersion, u.data.version);
      } else if (!u.data.dispense && p.armed && p.seenAt === null && u.data.version > p.onVersion) {
        p.seenAt = seenAt;
      }
    });
    await mqtt.subscribe(topics.timerExpired, (_topic, payload) => {
      const e = TimerExpired.safeParse(JSON.parse(decoder.decode(payload)));
      const p = e.success ? pending.get(e.data.machine_id) : undefined;
      if (e.success && p && p.sessionId === e.data.session_id && p.expiredSentAt === null) {
        p.expiredSentAt = e.data.sent_at;
      }
    });
    const states = new Map<number, MachineState>();
    await mqtt.subscribe(topics.allMachines("state"), (topic, payload) => {
      const t = parseMachineTopic(topic);
      if (!t) return;
      const s = MachineState.safeParse(JSON.parse(decoder.decode(payload)));
      if (s.success) states.set(t.machine_id, s.data);
    });

    if (endToEnd) {
      const { startFleet } = await import("../sim/fleet.ts");
      const fleet = await startFleet({ mqttUrl, ids, control: false, logger: quiet });
      cleanups.push(() => fleet.stop());
      await until(
        () => ids.every((id) => states.get(id)?.online && states.get(id)?.status === "available"),
        30_000,
        "every simulated bay online and available",
      );
    } else {
      // Plays the handler: ends the session and switches the dispenser off at once.
      const server = new RpcServer(mqtt, { logger: quiet });
      cleanups.push(() => server.close());
      let version = 1_000_000;
      await server.handle(topics.timerExpired, async (req) => {
        const update: DeviceUpdate = {
          correlation_id: crypto.randomUUID(),
          origin: "machine_handler",
          sent_at: Date.now(),
          version: ++version,
          status: "available",
          dispense: false,
          session_id: null,
          deadline: null,
          remaining_s: null,
        };
        await mqtt.publish(topics.update(req.machine_id), JSON.stringify(update), { qos: 1 });
        return { machine_id: req.machine_id, session_id: req.session_id, ended: true };
      });
    }

    const client = new RpcClient(mqtt, "bench", { logger: quiet, defaultTimeoutMs: 10_000 });
    await client.start();
    cleanups.push(() => client.close());

    const errors: number[] = [];
    const timerErrors: number[] = [];
    let skipped = 0;
    let waves = 0;
    for (let done = 0; done < sessions; done += machines) {
      const wave = ids.slice(0, Math.min(machines, sessions - done));
      waves++;
      pending.clear();
      await Promise.all(wave.map(async (id) => {
        const sessionId = `bench-${waves}-${id}-${crypto.randomUUID().slice(0, 8)}`;
        const st = await client.call(topics.timerSet, {
          machine_id: id,
          session_id: sessionId,
          op: "start",
          duration_ms: durationMs,
        });
        if (st.deadline === null) throw new ExpiryBenchError(`timer gave no deadline for ${id}`);
        const p: Pending = {
          sessionId,
          deadline: st.deadline,
          onVersion: 0,
          armed: !endToEnd,
          seenAt: null,
          expiredSentAt: null,
        };
        pending.set(id, p);
        if (endToEnd) {
          const res = await client.request(topics.commands, {
            machine_id: id,
            action: "activate",
            duration_s: 60,
            session_id: sessionId,
          });
          if (res.status !== "ok") {
            throw new ExpiryBenchError(`activate bay ${id} refused: ${res.error.message}`);
          }
          if (Date.now() > p.deadline - 100) {
            pending.delete(id); // activation too slow to measure this session fairly
            skipped++;
            return;
          }
          p.armed = true;
        }
      }));
      await until(
        () => [...pending.values()].every((p) => p.seenAt !== null),
        durationMs + 15_000,
        `deactivations of wave ${waves}`,
      );
      for (const p of pending.values()) {
        errors.push((p.seenAt as number) - p.deadline);
        if (p.expiredSentAt !== null) timerErrors.push(p.expiredSentAt - p.deadline);
      }
      if (endToEnd) {
        await until(
          () => wave.every((id) => states.get(id)?.status === "available"),
          15_000,
          `bays of wave ${waves} available again`,
        );
      }
    }
    errors.sort((a, b) => a - b);
    timerErrors.sort((a, b) => a - b);
    return {
      p50: percentile(errors, 0.5),
      p99: percentile(errors, 0.99),
      max: errors.length ? errors[errors.length - 1] : NaN,
      n: errors.length,
      timer: { p50: percentile(timerErrors, 0.5), p99: percentile(timerErrors, 0.99) },
      mode,
      waves,
      skipped,
    };
  } finally {
    await cleanup();
  }
}

if (import.meta.main) {
  const { startBroker } = await import("../tests/helpers/broker.ts");
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      sessions: { type: "string", default: "200" },
      machines: { type: "string", default: "80" },
      "duration-ms": { type: "string", default: "2000" },
    },
  });
  const broker = await startBroker();
  try {
    const r = await expiryBench({
      mqttUrl: broker.url,
      sessions: Number(values.sessions),
      machines: Number(values.machines),
      durationMs: Number(values["duration-ms"]),
    });
    console.log(
      `expiry error (${r.mode}, ${r.n} sessions in ${r.waves} waves on ${values.machines} bays` +
        `${r.skipped ? `, ${r.skipped} skipped` : ""}): p50 ${r.p50} ms  p99 ${r.p99} ms  ` +
        `max ${r.max} ms  (target p99 <= 50 ms); in the timer: p50 ${r.timer.p50} ms  ` +
        `p99 ${r.timer.p99} ms`,
    );
  } finally {
    await broker.stop();
  }
}
