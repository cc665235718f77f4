/**
 * Prometheus text exposition for `GET /metrics`: a small latency histogram the hub link feeds,
 * and a renderer that reads everything else (actor status, bay cache, adapter stats) at scrape
 * time.
 *
 * @module
 */
import type { ActorStatus } from "../actors/runtime/supervisor.ts";
import { MachineStatus } from "../protocol/machine.ts";
import type { MachineState } from "../protocol/machine.ts";

/** Upper bounds in seconds. MQTT round trips on loopback are ~1 ms; a device ack adds more. */
export const LATENCY_BUCKETS_S = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
] as const;

/** A Prometheus histogram with labels. */
export class Histogram {
  readonly #buckets: readonly number[];
  readonly #series = new Map<
    string,
    { labels: Record<string, string>; counts: number[]; sum: number; count: number }
  >();

  constructor(buckets: readonly number[] = LATENCY_BUCKETS_S) {
    for (let i = 1; i < buckets.length; i++) {
      if (!(buckets[i] > buckets[i - 1])) throw new RangeError("Histogram buckets must increase");
    }
    this.#buckets = buckets;
  }

  observe(labels: Record<string, string>, value: number): void {
    const key = labelString(labels);
    let s = this.#series.get(key);
    if (!s) {
      s = { labels, counts: this.#buckets.map(() => 0), sum: 0, count: 0 };
      this.#series.set(key, s);
    }
    for (let i = 0; i < this.#buckets.length; i++) if (value <= this.#buckets[i]) s.counts[i]++;
    s.sum += value;
    s.count++;
  }

  /** Number of observations over all series. */
  get count(): number {
    let n = 0;
    for (const s of this.#series.values()) n += s.count;
    return n;
  }

  render(name: string, help: string): string[] {
    const out = [`# HELP ${name} ${help}`, `# TYPE ${name} histogram`];
    for (const s of this.#series.values()) {
      this.#buckets.forEach((le, i) => {
        out.push(`${name}_bucket${labelString({ ...s.labels, le: String(le) })} ${s.counts[i]}`);
      });
      out.push(`${name}_bucket${labelString({ ...s.labels, le: "+Inf" })} ${s.count}`);
      out.push(`${name}_sum${labelString(s.labels)} ${round(s.sum)}`);
      out.push(`${name}_count${labelString(s.labels)} ${s.count}`);
    }
    return out;
  }
}

export interface MetricsSnapshot {
  actors: ActorStatus[];
  machines: MachineState[];
  brokerConnected: boolean;
  webMqttReconnects: number;
  sseClients: number;
  latency: Histogram;
  webhooks: Map<string, number>;
  checkouts: Map<string, number>;
}

/** Everything for `GET /metrics`, in the Prometheus text format (version 0.0.4). */
export function renderMetrics(s: MetricsSnapshot): string {
  const lines: string[] = [];
  const family = (name: string, type: string, help: string) =>
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);

  family(
    "hub_commands_total",
    "counter",
    "Commands handled by the machine handler, by action and outcome.",
  );
  const commands = new Map<string, number>();
  for (const a of s.actors) {
    const rec = a.detail.commands_total;
    if (!rec || typeof rec !== "object") continue;
    for (const [key, value] of Object.entries(rec as Record<string, unknown>)) {
      if (typeof value !== "number") continue;
      commands.set(key, (commands.get(key) ?? 0) + value);
    }
  }
  for (const [key, value] of [...commands].sort()) {
    const i = key.indexOf(":");
    const action = i < 0 ? key : key.slice(0, i);
    const outcome = i < 0 ? "unknown" : key.slice(i + 1);
    lines.push(`hub_commands_total${labelString({ action, outcome })} ${value}`);
  }

  lines.push(
    ...s.latency.render(
      "hub_rpc_latency_seconds",
      "Round trip of the web node's RPC requests (request published to reply matched).",
    ),
  );

  family("hub_machines", "gauge", "Bays by status, as last reported by the machine handler.");
  const byStatus = new Map<string, number>(MachineStatus.options.map((st) => [st, 0]));
  for (const m of s.machines) byStatus.set(m.status, (byStatus.get(m.status) ?? 0) + 1);
  for (const [status, n] of byStatus) lines.push(`hub_machines${labelString({ status })} ${n}`);

  family("hub_actor_restarts_total", "counter", "Restarts of each actor by the supervisor.");
  for (const a of s.actors) {
    lines.push(`hub_actor_restarts_total${labelString({ actor: a.name })} ${a.restarts}`);
  }
  family("hub_actor_up", "gauge", "1 when the actor is running and reports healthy.");
  for (const a of s.actors) {
    const up = a.phase === "running" && a.healthy ? 1 : 0;
    lines.push(`hub_actor_up${labelString({ actor: a.name })} ${up}`);
  }

  family("hub_mqtt_reconnects_total", "counter", "MQTT reconnect attempts, per node.");
  lines.push(`hub_mqtt_reconnects_total${labelString({ node: "web" })} ${s.webMqttReconnects}`);
  for (const a of s.actors) {
    const n = a.detail.mqtt_reconnects;
    if (typeof n === "number") {
      lines.push(`hub_mqtt_reconnects_total${labelString({ node: a.name })} ${n}`);
    }
  }

  family("hub_broker_connected", "gauge", "1 when the web node is connected to the broker.");
  lines.push(`hub_broker_connected ${s.brokerConnected ? 1 : 0}`);
  family("hub_sse_clients", "gauge", "Open /api/events streams.");
  lines.push(`hub_sse_clients ${s.sseClients}`);

  family("hub_webhooks_total", "counter", "Webhook deliveries by source and HTTP status.");
  for (const [key, n] of [...s.webhooks].sort()) {
    const [source, status] = key.split(" ");
    lines.push(`hub_webhooks_total${labelString({ source, status })} ${n}`);
  }
  family("hub_checkouts_total", "counter", "Kiosk checkouts reaching each state, by provider.");
  for (const [key, n] of [...s.checkouts].sort()) {
    const [provider, state] = key.split(" ");
    lines.push(`hub_checkouts_total${labelString({ provider, state })} ${n}`);
  }
  return lines.join("\n") + "\n";
}

/** A counter keyed by a space-joined label tuple. */
export function bump(map: Map<string, number>, ...labels: string[]): void {
  const key = labels.join(" ");
  map.set(key, (map.get(key) ?? 0) + 1);
}

function labelString(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

function escapeLabel(v: string): string {
  return v.replaceAll("\\", "\\\\").replaceAll("\n", "\\n").replaceAll('"', '\\"');
}

function round(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}
