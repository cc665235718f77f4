/**
 * The raw relay baseline: bare mqtt.js clients, no validation, no envelopes. A request makes the
 * given number of broker passes through a chain of relays and comes back to the requester, so a
 * hub round trip can be compared with the broker's own floor for the same number of passes.
 *
 * @module
 */
import { createConnection } from "node:net";
import mqtt from "mqtt";
import type { MqttClient } from "mqtt";
import { CpuMeter, type CpuSource } from "./cpu.ts";

export interface LatencyStats {
  n: number;
  p50: number;
  p99: number;
  max: number;
  /** Round trips per second. */
  throughput: number;
  /** CPU milliseconds per round trip, by process or thread measured (see {@linkcode compare}). */
  cpu_by?: Record<string, number>;
}

export function bareClient(url: string, id: string): Promise<MqttClient> {
  const u = new URL(url);
  const client = new mqtt.MqttClient(
    () => createConnection({ host: u.hostname, port: Number(u.port), noDelay: true }),
    { clientId: id, clean: true, protocolVersion: 4, reconnectPeriod: 0 },
  );
  return new Promise((resolve, reject) => {
    client.once("connect", () => resolve(client));
    client.once("error", reject);
  });
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export function summarize(samples: number[], elapsedMs: number): LatencyStats {
  const s = [...samples].sort((a, b) => a - b);
  return {
    n: s.length,
    p50: percentile(s, 50),
    p99: percentile(s, 99),
    max: s[s.length - 1] ?? NaN,
    throughput: s.length / (elapsedMs / 1000),
  };
}

/**
 * Measures `a` and `b` in alternating rounds (a, b, a, b, ...) so that both see the same machine
 * conditions, and returns the pooled statistics of each. Each side runs `inFlight` concurrent
 * loops, numbered from 0, for `durationMs / rounds` per round. With `cpuOf`, the CPU time of the
 * given processes or threads during each side's rounds is reported per round trip in `cpu_by`.
 */
export async function compare(
  a: (loop: number) => Promise<void>,
  b: (loop: number) => Promise<void>,
  { inFlight, durationMs, rounds = 4, warmup = 200, cpuOf }: {
    inFlight: number;
    durationMs: number;
    rounds?: number;
    /** Sequential calls of each side before measuring. */
    warmup?: number;
    cpuOf?: [Record<string, CpuSource>, Record<string, CpuSource>];
  },
): Promise<[LatencyStats, LatencyStats]> {
  const pooled: [number[], number[]] = [[], []];
  const elapsed = [0, 0];
  const cpu: [Record<string, number>, Record<string, number>] = [{}, {}];
  const fns = [a, b];
  for (let w = 0; w < warmup; w++) {
    await a(0);
    await b(0);
  }
  for (let r = 0; r < rounds; r++) {
    for (const i of [0, 1]) {
      const meter = cpuOf ? new CpuMeter(cpuOf[i]) : null;
      const start = performance.now();
      const end = start + durationMs / rounds;
      await Promise.all(Array.from({ length: inFlight }, async (_, loop) => {
        while (performance.now() < end) {
          const t0 = performance.now();
          await fns[i](loop);
          pooled[i].push(performance.now() - t0);
        }
      }));
      elapsed[i] += performance.now() - start;
      for (const [k, ms] of Object.entries(meter?.read() ?? {})) {
        cpu[i][k] = (cpu[i][k] ?? 0) + ms;
      }
    }
  }
  return [0, 1].map((i) => {
    const stats = summarize(pooled[i], elapsed[i]);
    if (cpuOf) {
      stats.cpu_by = Object.fromEntries(
        Object.entries(cpu[i]).map(([k, ms]) => [k, ms / stats.n]),
      );
    }
    return stats;
  }) as [LatencyStats, LatencyStats];
}

/**
 * A relay chain of `passes` broker passes: hop i subscribes `bench/relay/i` and republishes the
 * bytes unchanged to `bench/relay/i+1`; the requester publishes to hop 0 and hears the last.
 * Requests are matched by an 8-digit id prefix, without parsing.
 */
export async function startRelay(url: string, passes: number, payloadBytes: number) {
  if (passes < 2) throw new RangeError(`A relay needs at least 2 passes, got ${passes}`);
  const tag = crypto.randomUUID().slice(0, 8);
  const hops: MqttClient[] = [];
  for (let i = 1; i < passes; i++) {
    const c = await bareClient(url, `relay-${tag}-${i}`);
    await c.subscribeAsync(`bench/${tag}/${i}`, { qos: 1 });
    c.on("message", (_t, payload) => {
      c.publish(`bench/${tag}/${i + 1}`, payload, { qos: 1 });
    });
    hops.push(c);
  }
  const requester = await bareClient(url, `relay-${tag}-req`);
  await requester.subscribeAsync(`bench/${tag}/${passes}`, { qos: 1 });
  const pending = new Map<number, () => void>();
  requester.on("message", (_t, payload) => {
    const id = Number(new TextDecoder().decode(payload.subarray(0, 8)));
    const done = pending.get(id);
    if (done) {
      pending.delete(id);
      done();
    }
  });
  const filler = "x".repeat(Math.max(0, payloadBytes - 8));
  let next = 0;
  return {
    call(): Promise<void> {
      const id = next++ % 100_000_000;
      return new Promise<void>((resolve) => {
        pending.set(id, resolve);
        requester.publish(`bench/${tag}/1`, String(id).padStart(8, "0") + filler, { qos: 1 });
      });
    },
    async stop() {
      await Promise.all([...hops, requester].map((c) => c.endAsync()));
    },
  };
}
