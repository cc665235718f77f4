/**
 * The one module that touches npm:mqtt. It only moves bytes: connect with TCP no-delay, reconnect
 * with exponential backoff, resubscribe, publish, and route messages to subscribers by filter.
 * Actors and RPC build on it and never see the mqtt client.
 *
 * @module
 */
import { createConnection, type Socket } from "node:net";
import { setImmediate } from "node:timers";
import mqtt from "mqtt";
import type { IClientOptions, MqttClient } from "mqtt";
import { topicLevelsMatch } from "../protocol/topics.ts";
import { createLogger, type Logger } from "./log.ts";

export type MessageHandler = (topic: string, payload: Uint8Array, retained: boolean) => void;

export interface LastWill {
  topic: string;
  payload: string;
  qos: 0 | 1;
  retain: boolean;
}

export interface MqttAdapterOptions {
  /** `mqtt://host:port` (TCP, no-delay) or any URL mqtt.js accepts. */
  url: string;
  clientId: string;
  will?: LastWill;
  /** Published (retained) on every successful connect, e.g. the "online" birth message. */
  birth?: LastWill;
  keepaliveS?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  connectTimeoutMs?: number;
  logger?: Logger;
}

export interface AdapterStats {
  connects: number;
  reconnects: number;
  messagesIn: number;
  messagesOut: number;
}

type Event = "connect" | "offline";

const noLog = () => {};

/** Named error for MQTT transport failures. */
export class MqttError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "MqttError";
  }
}

/**
 * A TCP connection (no-delay) whose writes are held until the event loop's next turn: the packets
 * one turn produces (the updates and replies of a batch of commands committed together, or a
 * PUBACK and the publish that answers it) leave in one `writev` instead of one system call each.
 * `end()` flushes what is held; after `destroy()` nothing is sent.
 */
export function coalescingConnection(host: string, port: number): Socket {
  const socket = createConnection({ host, port, noDelay: true });
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  let corked = false;
  const flush = () => {
    corked = false;
    if (!socket.destroyed) socket.uncork();
  };
  socket.write = ((...args: unknown[]) => {
    if (!corked) {
      corked = true;
      socket.cork();
      setImmediate(flush);
    }
    return write(...args);
  }) as Socket["write"];
  return socket;
}

export class MqttAdapter {
  readonly #opts:
    & Required<Omit<MqttAdapterOptions, "will" | "birth" | "logger">>
    & MqttAdapterOptions;
  readonly #log: Logger;
  #client: MqttClient | undefined;
  /** `levels`: the filter split at `/` if it has wildcards (null: only an equal topic matches). */
  #subs = new Map<
    string,
    { qos: 0 | 1; levels: string[] | null; handlers: Set<MessageHandler> }
  >();
  #listeners: Record<Event, Set<() => void>> = { connect: new Set(), offline: new Set() };
  #backoff: number;
  #closed = false;
  readonly stats: AdapterStats = { connects: 0, reconnects: 0, messagesIn: 0, messagesOut: 0 };

  constructor(options: MqttAdapterOptions) {
    const minBackoffMs = options.minBackoffMs ?? 200;
    const maxBackoffMs = options.maxBackoffMs ?? 5_000;
    if (minBackoffMs <= 0 || maxBackoffMs < minBackoffMs) {
      throw new RangeError(
        `Invalid backoff: min ${minBackoffMs} ms, max ${maxBackoffMs} ms (need 0 < min <= max)`,
      );
    }
    this.#opts = {
      keepaliveS: 10,
      connectTimeoutMs: 5_000,
      ...options,
      minBackoffMs,
      maxBackoffMs,
    };
    this.#backoff = minBackoffMs;
    this.#log = options.logger ?? createLogger(`mqtt:${options.clientId}`);
  }

  get connected(): boolean {
    return this.#client?.connected ?? false;
  }

  /** Connects; resolves on the first CONNACK, rejects if that takes longer than `timeoutMs`. */
  connect(timeoutMs = this.#opts.connectTimeoutMs * 2): Promise<void> {
    if (this.#client) throw new MqttError("connect() called twice");
    const url = new URL(this.#opts.url);
    const options: IClientOptions = {
      clientId: this.#opts.clientId,
      clean: true,
      keepalive: this.#opts.keepaliveS,
      reconnectPeriod: this.#opts.minBackoffMs,
      connectTimeout: this.#opts.connectTimeoutMs,
      resubscribe: true,
      protocolVersion: 4,
      queueQoSZero: false,
      will: this.#opts.will,
      // mqtt.js logs every packet through the npm `debug` module, whose enabled-check and
      // argument copies cost CPU on every message; our own logger reports what matters.
      log: noLog,
      // Pings on the keepalive period, not re-armed after every acknowledgement received: under
      // load that re-arming (a cleared and a new interval timer per PUBACK) costs more than the
      // occasional PINGREQ it saves.
      reschedulePings: false,
    };
    let client: MqttClient;
    if (url.protocol === "mqtt:" || url.protocol === "tcp:") {
      const host = url.hostname;
      const port = Number(url.port || 1883);
      if (url.username) options.username = decodeURIComponent(url.username);
      if (url.password) options.password = decodeURIComponent(url.password);
      client = new mqtt.MqttClient(
        () => coalescingConnection(host, port),
        options,
      );
    } else {
      client = mqtt.connect(this.#opts.url, options);
    }
    this.#client = client;
    client.on("connect", () => {
      this.stats.connects++;
      if (this.stats.connects > 1) this.#log.info("reconnected to broker");
      this.#backoff = this.#opts.minBackoffMs;
      client.options.reconnectPeriod = this.#backoff;
      if (this.#opts.birth) {
        const b = this.#opts.birth;
        client.publish(b.topic, b.payload, { qos: b.qos, retain: b.retain });
      }
      for (const fn of this.#listeners.connect) fn();
    });
    client.on("reconnect", () => {
      this.stats.reconnects++;
      // Exponential backoff with jitter: mqtt.js re-arms its timer with the new period.
      const internal = client as unknown as { reconnectTimer: number | null };
      if (internal.reconnectTimer !== null) clearInterval(internal.reconnectTimer);
      internal.reconnectTimer = null;
      this.#backoff = Math.min(this.#opts.maxBackoffMs, this.#backoff * 2);
      client.options.reconnectPeriod = Math.round(this.#backoff * (0.8 + Math.random() * 0.4));
    });
    client.on("offline", () => {
      if (!this.#closed) this.#log.warn("broker connection lost; reconnecting with backoff");
      for (const fn of this.#listeners.offline) fn();
    });
    client.on("error", (err) => this.#log.warn("mqtt error", { error: err.message }));
    client.on("message", (topic, payload, packet) => {
      this.stats.messagesIn++;
      let levels: string[] | null = null;
      for (const [filter, sub] of this.#subs) {
        if (filter !== topic) {
          if (sub.levels === null) continue;
          levels ??= topic.split("/");
          if (!topicLevelsMatch(sub.levels, levels)) continue;
        }
        for (const h of sub.handlers) {
          try {
            h(topic, payload, packet.retain);
          } catch (err) {
            this.#log.error("message handler threw", { topic, error: err });
          }
        }
      }
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        client.off("connect", ok);
        reject(new MqttError(`Could not connect to ${this.#opts.url} within ${timeoutMs} ms`));
      }, timeoutMs);
      const ok = () => {
        clearTimeout(timer);
        resolve();
      };
      client.once("connect", ok);
    });
  }

  on(event: Event, fn: () => void): () => void {
    this.#listeners[event].add(fn);
    return () => this.#listeners[event].delete(fn);
  }

  /** Subscribes `handler` to `filter`; returns a function that removes it. */
  async subscribe(filter: string, handler: MessageHandler, qos: 0 | 1 = 1): Promise<() => void> {
    const client = this.#requireClient();
    let sub = this.#subs.get(filter);
    if (!sub) {
      const wild = filter.includes("+") || filter.includes("#");
      sub = { qos, levels: wild ? filter.split("/") : null, handlers: new Set() };
      this.#subs.set(filter, sub);
      sub.handlers.add(handler);
      await client.subscribeAsync(filter, { qos });
    } else {
      sub.handlers.add(handler);
    }
    return () => {
      const s = this.#subs.get(filter);
      if (!s) return;
      s.handlers.delete(handler);
      if (s.handlers.size === 0) {
        this.#subs.delete(filter);
        if (!this.#closed) client.unsubscribe(filter);
      }
    };
  }

  /**
   * Publishes. With QoS 1 the promise resolves on PUBACK; while disconnected the message waits
   * in mqtt.js's queue and is sent on reconnect.
   */
  publish(
    topic: string,
    payload: string | Uint8Array,
    opts: { qos?: 0 | 1; retain?: boolean } = {},
  ): Promise<void> {
    const client = this.#requireClient();
    this.stats.messagesOut++;
    return new Promise((resolve, reject) => {
      client.publish(
        topic,
        payload as string,
        { qos: opts.qos ?? 1, retain: opts.retain ?? false },
        (err) =>
          err ? reject(new MqttError(`Publish to ${topic} failed`, { cause: err })) : resolve(),
      );
    });
  }

  /** Publishes an "offline" birth replacement if configured, then disconnects. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const client = this.#client;
    if (!client) return;
    if (client.connected && this.#opts.will?.retain) {
      const w = this.#opts.will;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 1_000);
        client.publish(w.topic, w.payload, { qos: w.qos, retain: true }, () => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        client.end(true, {}, () => resolve());
      }, 2_000);
      client.end(false, {}, () => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /**
   * Drops the connection abruptly, like a pulled plug: the socket is destroyed without a
   * DISCONNECT, so the broker publishes the last will. For fault simulation; the adapter cannot
   * be used afterwards.
   */
  destroy(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    const client = this.#client;
    if (!client) return Promise.resolve();
    return new Promise((resolve) => client.end(true, {}, () => resolve()));
  }

  #requireClient(): MqttClient {
    if (!this.#client) throw new MqttError("Not connected: call connect() first");
    return this.#client;
  }
}
