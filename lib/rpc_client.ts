/**
 * The requesting side of typed RPC over MQTT. A request gets a fresh correlation id, the origin
 * and sent-at time; the reply is matched by correlation id on the origin's reply topic. Many
 * requests may be in flight; late or unknown replies are counted and dropped.
 *
 * @module
 */
import type { z } from "zod";
import { rpc as hubRpc, type RpcContract } from "../protocol/api.ts";
import { type ResponseOf, responseOf } from "../protocol/common.ts";
import { type Clock, systemClock, type TimerHandle } from "./clock.ts";
import { InvalidMessageError, RpcClosedError, RpcRemoteError, RpcTimeoutError } from "./errors.ts";
import { createLogger, type Logger } from "./log.ts";
import type { MqttAdapter } from "./mqtt_adapter.ts";

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** What a caller passes for a request: the payload without the envelope fields. */
export type RequestBody<C extends RpcContract, T extends keyof C & string> = DistributiveOmit<
  z.input<C[T]["request"]>,
  "correlation_id" | "origin" | "sent_at"
>;
export type ResponseData<C extends RpcContract, T extends keyof C & string> = z.infer<
  C[T]["data"]
>;

export interface RequestOptions {
  timeoutMs?: number;
  /** Use this correlation id instead of a fresh one (e.g. to retry the same request). */
  correlationId?: string;
  /**
   * Skip validating the request against its schema: only for a body this node built itself from
   * data it already validated (a hot path). Replies are validated regardless.
   */
  trusted?: boolean;
}

export interface RpcClientStats {
  sent: number;
  matched: number;
  timeouts: number;
  /** Replies whose correlation id matched nothing in flight (late, duplicate or not ours). */
  unmatched: number;
  /** Replies that matched but failed validation, or were not JSON. */
  invalid: number;
}

interface Pending {
  topic: string;
  schema: z.ZodType;
  timer: TimerHandle;
  started: number;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export interface RpcClientOptions<C extends RpcContract> {
  contract?: C;
  clock?: Clock;
  defaultTimeoutMs?: number;
  logger?: Logger;
  /** Called with each matched round trip's latency in ms (for metrics). */
  onLatency?: (topic: string, ms: number) => void;
}

export class RpcClient<C extends RpcContract = typeof hubRpc> {
  readonly origin: string;
  readonly stats: RpcClientStats = { sent: 0, matched: 0, timeouts: 0, unmatched: 0, invalid: 0 };
  readonly #mqtt: MqttAdapter;
  readonly #contract: C;
  readonly #clock: Clock;
  readonly #defaultTimeoutMs: number;
  readonly #log: Logger;
  readonly #onLatency?: (topic: string, ms: number) => void;
  readonly #pending = new Map<string, Pending>();
  readonly #responseSchemas = new Map<z.ZodType, z.ZodType>();
  #unsubs: Array<() => void> = [];
  #started = false;
  #closed = false;

  constructor(mqtt: MqttAdapter, origin: string, options: RpcClientOptions<C> = {}) {
    this.#mqtt = mqtt;
    this.origin = origin;
    this.#contract = options.contract ?? (hubRpc as unknown as C);
    this.#clock = options.clock ?? systemClock;
    this.#defaultTimeoutMs = options.defaultTimeoutMs ?? 5_000;
    if (this.#defaultTimeoutMs <= 0) {
      throw new RangeError(`defaultTimeoutMs must be positive, got ${this.#defaultTimeoutMs}`);
    }
    this.#log = options.logger ?? createLogger(`rpc-client:${origin}`);
    this.#onLatency = options.onLatency;
  }

  /** Subscribes to this origin's reply topics. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    const replyTopics = new Set(
      Object.values(this.#contract).map((s) => s.replyTopic(this.origin)),
    );
    for (const t of replyTopics) {
      this.#unsubs.push(await this.#mqtt.subscribe(t, (_topic, payload) => this.#onReply(payload)));
    }
  }

  /** Number of requests in flight. */
  get inFlight(): number {
    return this.#pending.size;
  }

  /**
   * Sends a request and resolves to the typed response (`ok` with data or `error`), matched by
   * correlation id. Rejects with {@linkcode RpcTimeoutError} when no reply comes in time.
   */
  request<T extends keyof C & string>(
    topic: T,
    body: RequestBody<C, T>,
    options: RequestOptions = {},
  ): Promise<ResponseOf<ResponseData<C, T>>> {
    if (this.#closed) return Promise.reject(new RpcClosedError("RPC client is closed"));
    if (!this.#started) throw new RpcClosedError("RPC client not started: call start() first");
    const spec = this.#contract[topic];
    if (!spec) throw new RangeError(`No RPC contract for topic ${topic}`);
    const timeoutMs = options.timeoutMs ?? this.#defaultTimeoutMs;
    if (!(timeoutMs > 0)) throw new RangeError(`timeoutMs must be positive, got ${timeoutMs}`);
    const correlation_id = options.correlationId ?? crypto.randomUUID();
    const payload = {
      ...(body as Record<string, unknown>),
      correlation_id,
      origin: this.origin,
      sent_at: this.#clock.now(),
    };
    const checked = options.trusted ? null : spec.request.safeParse(payload);
    if (checked && !checked.success) {
      return Promise.reject(
        new InvalidMessageError(`Invalid ${topic} request: ${summarizeIssues(checked.error)}`, {
          cause: checked.error,
        }),
      );
    }
    return new Promise((resolve, reject) => {
      const timer = this.#clock.setTimeout(() => {
        if (this.#pending.delete(correlation_id)) {
          this.stats.timeouts++;
          reject(new RpcTimeoutError(topic, correlation_id, timeoutMs));
        }
      }, timeoutMs);
      this.#pending.set(correlation_id, {
        topic,
        schema: this.#responseSchema(spec.data),
        timer,
        started: this.#clock.monotonic(),
        resolve: resolve as (v: unknown) => void,
        reject,
      });
      this.stats.sent++;
      this.#mqtt.publish(topic, JSON.stringify(payload), { qos: 1 }).catch((err) => {
        const p = this.#pending.get(correlation_id);
        if (!p) return;
        this.#pending.delete(correlation_id);
        this.#clock.clearTimeout(p.timer);
        reject(err);
      });
    });
  }

  /** Like {@linkcode request} but resolves to the data and rejects with RpcRemoteError. */
  async call<T extends keyof C & string>(
    topic: T,
    body: RequestBody<C, T>,
    options: RequestOptions = {},
  ): Promise<ResponseData<C, T>> {
    const res = await this.request(topic, body, options);
    if (res.status === "error") throw new RpcRemoteError(res.error);
    return res.data;
  }

  /** Fails every request in flight with RpcClosedError and unsubscribes. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const [id, p] of this.#pending) {
      this.#clock.clearTimeout(p.timer);
      p.reject(new RpcClosedError(`RPC client closed while ${p.topic} (${id}) was in flight`));
    }
    this.#pending.clear();
    for (const u of this.#unsubs) u();
    this.#unsubs = [];
  }

  #responseSchema(data: z.ZodType): z.ZodType {
    let s = this.#responseSchemas.get(data);
    if (!s) {
      s = responseOf(data);
      this.#responseSchemas.set(data, s);
    }
    return s;
  }

  #onReply(payload: Uint8Array): void {
    let msg: unknown;
    try {
      msg = JSON.parse(decoder.decode(payload));
    } catch {
      this.stats.invalid++;
      this.#log.warn("reply is not JSON; dropped", { bytes: payload.length });
      return;
    }
    const id = typeof msg === "object" && msg !== null
      ? (msg as { correlation_id?: unknown }).correlation_id
      : undefined;
    const p = typeof id === "string" ? this.#pending.get(id) : undefined;
    if (!p) {
      this.stats.unmatched++;
      return;
    }
    this.#pending.delete(id as string);
    this.#clock.clearTimeout(p.timer);
    const parsed = p.schema.safeParse(msg);
    if (!parsed.success) {
      this.stats.invalid++;
      p.reject(
        new InvalidMessageError(
          `Invalid reply to ${p.topic}: ${summarizeIssues(parsed.error)}`,
          { cause: parsed.error },
        ),
      );
      return;
    }
    this.stats.matched++;
    this.#onLatency?.(p.topic, this.#clock.monotonic() - p.started);
    p.resolve(parsed.data);
  }
}

const decoder = new TextDecoder();

/** One line summarising zod issues: `path: message; path: message`. */
export function summarizeIssues(error: z.ZodError, max = 5): string {
  const parts = error.issues.slice(0, max).map((i) =>
    `${i.path.length ? i.path.join(".") : "(root)"}: ${i.message}`
  );
  if (error.issues.length > max) parts.push(`and ${error.issues.length - max} more`);
  return parts.join("; ");
}
