/**
 * The responding side of typed RPC over MQTT. Each request is validated with its zod schema and
 * answered on the origin's reply topic with the same correlation id: `ok` with data, or `error`
 * with a stable code. Bad input is answered whenever the origin can be identified, and counted
 * and logged otherwise; nothing a client sends can crash the responder.
 *
 * @module
 */
import type { z } from "zod";
import { rpc as hubRpc, type RpcContract } from "../protocol/api.ts";
import { type ErrorBody, NodeId, type ResponseOf } from "../protocol/common.ts";
import { type Clock, systemClock } from "./clock.ts";
import { HandlerError } from "./errors.ts";
import { createLogger, type Logger } from "./log.ts";
import type { MqttAdapter } from "./mqtt_adapter.ts";
import { summarizeIssues } from "./rpc_client.ts";

export interface RpcServerStats {
  handled: number;
  errors: number;
  /** Requests answered with invalid_payload / payload_too_large. */
  invalid: number;
  /** Bytes that were not JSON, or JSON with no usable origin: logged and dropped. */
  unanswerable: number;
}

export type Handler<C extends RpcContract, T extends keyof C & string> = (
  request: z.infer<C[T]["request"]>,
) => Promise<z.infer<C[T]["data"]> | Reply<z.infer<C[T]["data"]>>>;

/** A handler may return this to control the reply fully (e.g. repeat a first outcome). */
export class Reply<D> {
  constructor(
    readonly response:
      | { status: "ok"; data: D; duplicate?: boolean }
      | { status: "error"; error: ErrorBody; duplicate?: boolean },
  ) {}
}

export interface RpcServerOptions<C extends RpcContract> {
  contract?: C;
  clock?: Clock;
  logger?: Logger;
  /** Requests larger than this are refused with payload_too_large. Default 64 KiB. */
  maxPayloadBytes?: number;
}

const decoder = new TextDecoder();

export class RpcServer<C extends RpcContract = typeof hubRpc> {
  readonly stats: RpcServerStats = { handled: 0, errors: 0, invalid: 0, unanswerable: 0 };
  readonly #mqtt: MqttAdapter;
  readonly #contract: C;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #maxBytes: number;
  #unsubs: Array<() => void> = [];
  #inFlight = new Set<Promise<void>>();
  #closed = false;

  constructor(mqtt: MqttAdapter, options: RpcServerOptions<C> = {}) {
    this.#mqtt = mqtt;
    this.#contract = options.contract ?? (hubRpc as unknown as C);
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger ?? createLogger("rpc-server");
    this.#maxBytes = options.maxPayloadBytes ?? 64 * 1024;
    if (this.#maxBytes <= 0) throw new RangeError(`maxPayloadBytes must be positive`);
  }

  /** Serves `topic` with `handler`. */
  async handle<T extends keyof C & string>(topic: T, handler: Handler<C, T>): Promise<void> {
    const spec = this.#contract[topic];
    if (!spec) throw new RangeError(`No RPC contract for topic ${topic}`);
    const unsub = await this.#mqtt.subscribe(topic, (_t, payload) => {
      if (this.#closed) return;
      const p = this.#onRequest(topic, spec.request, spec.replyTopic, handler, payload);
      this.#inFlight.add(p);
      p.finally(() => this.#inFlight.delete(p));
    });
    this.#unsubs.push(unsub);
  }

  /** Stops taking requests and waits (bounded) for those in flight to be answered. */
  async close(timeoutMs = 5_000): Promise<void> {
    this.#closed = true;
    for (const u of this.#unsubs) u();
    this.#unsubs = [];
    if (this.#inFlight.size === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.allSettled([...this.#inFlight]),
      new Promise((r) => timer = setTimeout(r, timeoutMs)),
    ]);
    clearTimeout(timer);
  }

  async #onRequest(
    topic: string,
    schema: z.ZodType,
    replyTopic: (origin: string) => string,
    handler: Handler<C, keyof C & string>,
    payload: Uint8Array,
  ): Promise<void> {
    let raw: unknown;
    try {
      raw = JSON.parse(decoder.decode(payload));
    } catch {
      this.stats.unanswerable++;
      this.#log.warn("request is not JSON; dropped", { topic, bytes: payload.length });
      return;
    }
    const envelope = (typeof raw === "object" && raw !== null ? raw : {}) as Record<
      string,
      unknown
    >;
    const origin = NodeId.safeParse(envelope.origin).success ? envelope.origin as string : null;
    const correlationId = typeof envelope.correlation_id === "string" &&
        envelope.correlation_id.length > 0 && envelope.correlation_id.length <= 128
      ? envelope.correlation_id
      : null;
    const answer = (response: ResponseOf<unknown>) => {
      if (!origin) return;
      this.#mqtt.publish(replyTopic(origin), JSON.stringify(response), { qos: 1 }).catch((err) =>
        this.#log.warn("could not publish reply", { topic, origin, error: err })
      );
    };
    const refuse = (error: ErrorBody) => {
      this.stats.invalid++;
      if (!origin) {
        this.stats.unanswerable++;
        this.#log.warn("invalid request without a usable origin; dropped", {
          topic,
          error: error.message,
        });
        return;
      }
      this.#log.info("invalid request refused", { topic, origin, error: error.message });
      answer({
        correlation_id: correlationId ?? "unknown",
        status: "error",
        error,
        sent_at: this.#clock.now(),
      });
    };

    if (payload.length > this.#maxBytes) {
      refuse({
        code: "payload_too_large",
        message: `Request is ${payload.length} bytes; the limit is ${this.#maxBytes}`,
      });
      return;
    }
    const parsed = schema.safeParse(raw);
    if (!parsed.success) {
      refuse({
        code: "invalid_payload",
        message: `Invalid ${topic} request: ${summarizeIssues(parsed.error)}`,
        details: parsed.error.issues.slice(0, 20).map((i) => ({
          path: i.path.map(String),
          message: i.message,
        })),
      });
      return;
    }
    const request = parsed.data as { correlation_id: string };
    try {
      const result = await handler(parsed.data as z.infer<C[keyof C & string]["request"]>);
      this.stats.handled++;
      if (result instanceof Reply) {
        if (result.response.status === "error") this.stats.errors++;
        answer({
          ...result.response,
          correlation_id: request.correlation_id,
          sent_at: this.#clock.now(),
        } as ResponseOf<unknown>);
      } else {
        answer({
          correlation_id: request.correlation_id,
          status: "ok",
          data: result,
          sent_at: this.#clock.now(),
        });
      }
    } catch (err) {
      this.stats.handled++;
      this.stats.errors++;
      if (err instanceof HandlerError) {
        answer({
          correlation_id: request.correlation_id,
          status: "error",
          error: { code: err.code, message: err.message, details: err.details },
          sent_at: this.#clock.now(),
        });
      } else {
        this.#log.error("handler failed", { topic, error: err });
        answer({
          correlation_id: request.correlation_id,
          status: "error",
          error: {
            code: "internal",
            message: `Internal error while handling ${topic}: ${
              err instanceof Error ? err.message : String(err)
            }`,
          },
          sent_at: this.#clock.now(),
        });
      }
    }
  }
}
