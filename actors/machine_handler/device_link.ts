/**
 * The handler's link to the dispensers: it publishes desired states on `machines/{id}/update`,
 * matches acks on `machines/{id}/response` by version, resends (same version) when no ack comes
 * in time, and tracks liveness from `machines/{id}/availability` (birth / last will) and
 * `machines/{id}/heartbeat`.
 *
 * Liveness is checked by one sweep timer for all dispensers: one that has not been heard for
 * 1.25x its keepalive is reported silent, so it is marked offline within 1.375x its keepalive
 * (the sweep runs every keepalive/8), inside the 1.5x the protocol promises.
 *
 * @module
 */
import type { Clock, TimerHandle } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log.ts";
import type { MqttAdapter } from "../../lib/mqtt_adapter.ts";
import {
  DeviceAck,
  DeviceAvailability,
  DeviceHeartbeat,
  type DeviceUpdate,
} from "../../protocol/device.ts";
import { parseMachineTopic, topics } from "../../protocol/topics.ts";
import type { DesiredState } from "./machine_record.ts";

/** Silent for this many keepalives: offline. */
export const SILENT_AFTER_KEEPALIVES = 1.25;

export type PushResult =
  | { kind: "acked"; dispensing: boolean }
  | { kind: "refused"; code: string; message: string }
  | { kind: "timeout"; attempts: number }
  /** The dispenser is not connected: nothing is waited for; it gets the state when it is back. */
  | { kind: "offline" }
  /** A newer version was pushed before this one was acknowledged. */
  | { kind: "superseded" }
  | { kind: "stopped" };

export interface DeviceLinkHooks {
  /** Whether `id` is a configured bay (messages from others are ignored). */
  known(id: number): boolean;
  /** The desired state to send for `id` now; its version is the one pushed. */
  desired(id: number): DesiredState;
  /**
   * The dispenser is connected: after being offline or unknown (`cameBack`), or after a new
   * birth message while it was thought online (a reconnect; it may have lost its state).
   */
  online(id: number, info: { keepalive_s: number; cameBack: boolean; first: boolean }): void;
  offline(id: number, cause: "last will" | "silent"): void;
  heartbeat(id: number, hb: DeviceHeartbeat): void;
  /** An ack for the version currently desired (late acks for older versions never get here). */
  acked(id: number, version: number, ok: boolean): void;
  /** Called by the sweep timer (every keepalive/8, at most every second). */
  tick(): void;
}

export interface DeviceLinkOptions {
  mqtt: MqttAdapter;
  clock: Clock;
  log: Logger;
  origin: string;
  ackTimeoutMs: number;
  ackRetries: number;
  defaultKeepaliveS: number;
  hooks: DeviceLinkHooks;
}

export interface DeviceLinkStats {
  updates_sent: number;
  ack_retries_total: number;
  acks: number;
  late_acks: number;
  ack_timeouts: number;
  invalid_messages: number;
}

interface Liveness {
  online: boolean;
  lastHeardMono: number;
  keepaliveS: number;
}

interface InFlight {
  version: number;
  attempts: number;
  timer: TimerHandle | null;
  done: PromiseWithResolvers<PushResult>;
}

const decoder = new TextDecoder();

export class DeviceLink {
  readonly stats: DeviceLinkStats = {
    updates_sent: 0,
    ack_retries_total: 0,
    acks: 0,
    late_acks: 0,
    ack_timeouts: 0,
    invalid_messages: 0,
  };
  readonly #o: DeviceLinkOptions;
  readonly #live = new Map<number, Liveness>();
  readonly #inFlight = new Map<number, InFlight>();
  #unsubs: Array<() => void> = [];
  #sweep: TimerHandle | null = null;
  #stopped = false;
  #seq = 0;
  readonly #warnedUnknown = new Set<number>();

  constructor(o: DeviceLinkOptions) {
    if (!(o.ackTimeoutMs > 0)) throw new RangeError(`ackTimeoutMs must be > 0`);
    if (!(o.ackRetries >= 0)) throw new RangeError(`ackRetries must be >= 0`);
    this.#o = o;
  }

  /** Subscribes to every dispenser's acks, availability and heartbeats; starts the sweep. */
  async start(): Promise<void> {
    const { mqtt } = this.#o;
    this.#unsubs.push(
      await mqtt.subscribe(topics.allMachines("response"), (t, p) => this.#onAck(t, p), 1),
    );
    this.#unsubs.push(
      await mqtt.subscribe(
        topics.allMachines("availability"),
        (t, p) => this.#onAvailability(t, p),
        1,
      ),
    );
    this.#unsubs.push(
      await mqtt.subscribe(topics.allMachines("heartbeat"), (t, p) => this.#onHeartbeat(t, p), 0),
    );
    this.#scheduleSweep();
  }

  /** Stops the sweep and every retry; pushes in flight resolve as `stopped`. */
  stop(): void {
    this.#stopped = true;
    if (this.#sweep !== null) this.#o.clock.clearTimeout(this.#sweep);
    this.#sweep = null;
    for (const u of this.#unsubs) u();
    this.#unsubs = [];
    for (const [id, f] of this.#inFlight) {
      if (f.timer !== null) this.#o.clock.clearTimeout(f.timer);
      f.done.resolve({ kind: "stopped" });
      this.#inFlight.delete(id);
    }
  }

  /** Whether the dispenser is currently considered connected. */
  isOnline(id: number): boolean {
    return this.#live.get(id)?.online === true;
  }

  /**
   * Treats `id` as connected until heard otherwise (after a restart, from the stored record):
   * its retained availability or heartbeats confirm it, or the sweep marks it offline.
   */
  assumeOnline(id: number, keepaliveS: number): void {
    if (this.#live.has(id)) return;
    this.#live.set(id, { online: true, lastHeardMono: this.#o.clock.monotonic(), keepaliveS });
  }

  /** The version waiting for an ack from `id`, or null. */
  pendingFor(id: number): number | null {
    return this.#inFlight.get(id)?.version ?? null;
  }

  /** Number of pushes waiting for an ack. */
  get pending(): number {
    return this.#inFlight.size;
  }

  /**
   * Sends the desired state of `id` (its current version) and resolves when the dispenser
   * acknowledges that version, refuses it, or does not answer `ackRetries` resends. Pushing
   * the version already in flight joins it.
   */
  push(id: number): Promise<PushResult> {
    if (this.#stopped) return Promise.resolve({ kind: "stopped" });
    const version = this.#o.hooks.desired(id).version;
    const cur = this.#inFlight.get(id);
    if (cur && cur.version === version) return cur.done.promise;
    if (cur) this.#finish(id, cur, { kind: "superseded" });
    if (!this.isOnline(id)) return Promise.resolve({ kind: "offline" });
    const f: InFlight = { version, attempts: 0, timer: null, done: Promise.withResolvers() };
    this.#inFlight.set(id, f);
    this.#send(id, f);
    return f.done.promise;
  }

  /**
   * Sends the desired state again now (after a reconnect), with a fresh set of attempts if a
   * push is in flight, or as a new push otherwise.
   */
  resync(id: number): Promise<PushResult> {
    const cur = this.#inFlight.get(id);
    if (cur && cur.version === this.#o.hooks.desired(id).version) {
      if (cur.timer !== null) this.#o.clock.clearTimeout(cur.timer);
      cur.attempts = 0;
      this.#send(id, cur);
      return cur.done.promise;
    }
    return this.push(id);
  }

  #send(id: number, f: InFlight): void {
    const { clock, mqtt, origin, log } = this.#o;
    const desired = this.#o.hooks.desired(id);
    if (desired.version !== f.version) {
      // The record moved on without a push (cannot happen through push(); defensive).
      this.#finish(id, f, { kind: "superseded" });
      return;
    }
    f.attempts++;
    const update: DeviceUpdate = {
      correlation_id: `u-${id}-${desired.version}-${++this.#seq}`,
      origin,
      sent_at: clock.now(),
      ...desired,
    };
    this.stats.updates_sent++;
    mqtt.publish(topics.update(id), JSON.stringify(update), { qos: 1, retain: false }).catch(
      (err) => log.warn("update not published", { id, version: f.version, error: err }),
    );
    f.timer = clock.setTimeout(() => {
      f.timer = null;
      if (this.#inFlight.get(id) !== f) return;
      if (!this.isOnline(id)) {
        this.#finish(id, f, { kind: "offline" });
      } else if (f.attempts <= this.#o.ackRetries) {
        this.stats.ack_retries_total++;
        log.info("no ack; resending", { id, version: f.version, attempt: f.attempts + 1 });
        this.#send(id, f);
      } else {
        this.stats.ack_timeouts++;
        this.#finish(id, f, { kind: "timeout", attempts: f.attempts });
      }
    }, this.#o.ackTimeoutMs);
  }

  #finish(id: number, f: InFlight, r: PushResult): void {
    if (f.timer !== null) this.#o.clock.clearTimeout(f.timer);
    f.timer = null;
    if (this.#inFlight.get(id) === f) this.#inFlight.delete(id);
    f.done.resolve(r);
  }

  #machine(topic: string, kind: string): number | null {
    const m = parseMachineTopic(topic);
    if (!m || m.kind !== kind) return null;
    if (!this.#o.hooks.known(m.machine_id)) {
      if (!this.#warnedUnknown.has(m.machine_id)) {
        this.#warnedUnknown.add(m.machine_id);
        this.#o.log.warn("message from a dispenser that is not configured; ignored", {
          id: m.machine_id,
          topic,
        });
      }
      return null;
    }
    return m.machine_id;
  }

  #json(payload: Uint8Array, topic: string): unknown {
    try {
      return JSON.parse(decoder.decode(payload));
    } catch {
      this.stats.invalid_messages++;
      this.#o.log.warn("dispenser message is not JSON; ignored", { topic });
      return undefined;
    }
  }

  #onAck(topic: string, payload: Uint8Array): void {
    const id = this.#machine(topic, "response");
    if (id === null) return;
    const parsed = DeviceAck.safeParse(this.#json(payload, topic));
    if (!parsed.success) {
      this.stats.invalid_messages++;
      this.#o.log.warn("invalid ack; ignored", { id });
      return;
    }
    const ack = parsed.data;
    this.#heard(id, null, false);
    const version = ack.data.version;
    if (version !== this.#o.hooks.desired(id).version) {
      this.stats.late_acks++;
      return;
    }
    this.stats.acks++;
    this.#o.hooks.acked(id, version, ack.status === "ok");
    const f = this.#inFlight.get(id);
    if (!f || f.version !== version) return;
    this.#finish(
      id,
      f,
      ack.status === "ok"
        ? { kind: "acked", dispensing: ack.data.dispensing }
        : { kind: "refused", code: ack.error.code, message: ack.error.message },
    );
  }

  #onAvailability(topic: string, payload: Uint8Array): void {
    const id = this.#machine(topic, "availability");
    if (id === null) return;
    if (payload.length === 0) return; // a cleared retained message
    const parsed = DeviceAvailability.safeParse(this.#json(payload, topic));
    if (!parsed.success) {
      this.stats.invalid_messages++;
      this.#o.log.warn("invalid availability message; ignored", { id });
      return;
    }
    const a = parsed.data;
    if (a.state === "online") {
      this.#heard(id, a.keepalive_s ?? null, true);
    } else {
      const l = this.#live.get(id);
      if (l?.online === false) return;
      this.#live.set(id, {
        online: false,
        lastHeardMono: l?.lastHeardMono ?? this.#o.clock.monotonic(),
        keepaliveS: l?.keepaliveS ?? this.#o.defaultKeepaliveS,
      });
      this.#o.hooks.offline(id, "last will");
      const f = this.#inFlight.get(id);
      if (f) this.#finish(id, f, { kind: "offline" });
    }
  }

  #onHeartbeat(topic: string, payload: Uint8Array): void {
    const id = this.#machine(topic, "heartbeat");
    if (id === null) return;
    const parsed = DeviceHeartbeat.safeParse(this.#json(payload, topic));
    if (!parsed.success) {
      this.stats.invalid_messages++;
      this.#o.log.warn("invalid heartbeat; ignored", { id });
      return;
    }
    this.#heard(id, null, false);
    this.#o.hooks.heartbeat(id, parsed.data);
  }

  /** Records that `id` was heard; reports it online if it was not (or on a birth message). */
  #heard(id: number, keepaliveS: number | null, birth: boolean): void {
    const now = this.#o.clock.monotonic();
    const l = this.#live.get(id);
    const keepalive = keepaliveS ?? l?.keepaliveS ?? this.#o.defaultKeepaliveS;
    const wasOnline = l?.online === true;
    this.#live.set(id, { online: true, lastHeardMono: now, keepaliveS: keepalive });
    if (!wasOnline || birth) {
      if (keepaliveS !== null && l && keepaliveS !== l.keepaliveS) this.#rescheduleSweep();
      this.#o.hooks.online(id, {
        keepalive_s: keepalive,
        cameBack: !wasOnline && l?.online === false,
        first: l === undefined,
      });
    }
  }

  #sweepIntervalMs(): number {
    let min = this.#o.defaultKeepaliveS;
    for (const l of this.#live.values()) if (l.keepaliveS < min) min = l.keepaliveS;
    return Math.min(1_000, Math.max(50, Math.floor((min * 1000) / 8)));
  }

  #scheduleSweep(): void {
    if (this.#stopped) return;
    this.#sweep = this.#o.clock.setTimeout(() => {
      this.#sweep = null;
      this.#runSweep();
      this.#scheduleSweep();
    }, this.#sweepIntervalMs());
  }

  #rescheduleSweep(): void {
    if (this.#sweep === null) return;
    this.#o.clock.clearTimeout(this.#sweep);
    this.#sweep = null;
    this.#scheduleSweep();
  }

  #runSweep(): void {
    const now = this.#o.clock.monotonic();
    for (const [id, l] of this.#live) {
      if (l.online !== true) continue;
      if (now - l.lastHeardMono > l.keepaliveS * 1000 * SILENT_AFTER_KEEPALIVES) {
        l.online = false;
        this.#o.hooks.offline(id, "silent");
        const f = this.#inFlight.get(id);
        if (f) this.#finish(id, f, { kind: "offline" });
      }
    }
    try {
      this.#o.hooks.tick();
    } catch (err) {
      this.#o.log.error("sweep tick failed", { error: err });
    }
  }
}
