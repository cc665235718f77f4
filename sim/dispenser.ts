/**
 * One simulated ESP32 dispenser. It follows the device side of the protocol exactly as the
 * firmware must (see docs/firmware.md): its own MQTT connection with a retained last will and
 * birth on `machines/{id}/availability`, updates applied by version and acknowledged on
 * `machines/{id}/response`, a local countdown that switches off at the deadline even without
 * the hub, and heartbeats with ball level and fault. On request it misbehaves, for tests.
 *
 * @module
 */
import { type Clock, systemClock, type TimerHandle } from "../lib/clock.ts";
import { createLogger, type Logger } from "../lib/log.ts";
import { MqttAdapter } from "../lib/mqtt_adapter.ts";
import { CorrelationId } from "../protocol/common.ts";
import {
  type DeviceAck,
  type DeviceAvailability,
  type DeviceHeartbeat,
  DeviceUpdate,
} from "../protocol/device.ts";
import type { BallLevel, MachineStatus } from "../protocol/machine.ts";
import { topics } from "../protocol/topics.ts";
import { SimMisbehaviour } from "./control.ts";
import { DEFAULT_DRAIN_PER_MINUTE, Hopper } from "./hopper.ts";

/** What a simulated dispenser can be told to do wrong (see {@linkcode SimMisbehaviour}). */
export type Misbehaviour = SimMisbehaviour;

/** Firmware name the simulator reports in its birth message. */
export const SIM_FIRMWARE = "sim-1";

export interface SimDispenserOptions {
  id: number;
  mqttUrl: string;
  /** Heartbeat interval, also the MQTT keepalive (default 10). */
  keepaliveS?: number;
  clock?: Clock;
  logger?: Logger;
  /** Percent of a full hopper used per minute of dispensing (default 2). */
  drainPerMinute?: number;
}

export interface SimDispenserState {
  /** Last applied update version (0 before the first). */
  version: number;
  dispensing: boolean;
  status: MachineStatus | null;
  session_id: string | null;
  /** Hub wall-clock deadline from the last applied update. */
  deadline: number | null;
  /** Local countdown: ms left while it runs, frozen value otherwise, null if none. */
  remaining_ms: number | null;
  ball_level: BallLevel;
  fault: string | null;
  online: boolean;
  /** Valid updates received, duplicates and old versions included. */
  updates_received: number;
  acks_sent: number;
}

/** A simulated dispenser could not connect. */
export class SimDispenserError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SimDispenserError";
  }
}

const decoder = new TextDecoder();

export class SimDispenser {
  readonly id: number;
  readonly #url: string;
  readonly #keepaliveS: number;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #hopper: Hopper;
  readonly #bootMono: number;
  #mqtt: MqttAdapter | null = null;
  #wantOnline = true;
  #stopped = false;
  #mis: Misbehaviour = {};

  #version = 0;
  #status: MachineStatus | null = null;
  #sessionId: string | null = null;
  #deadline: number | null = null;
  /** The session time is running: the last update said dispense and the countdown is not over. */
  #running = false;
  /** Monotonic time the countdown ends, while it runs; null without a countdown. */
  #endMono: number | null = null;
  /** Remaining time while no countdown runs (paused session, or 0 after the failsafe). */
  #heldMs: number | null = null;

  #failsafe: TimerHandle | null = null;
  #heartbeat: TimerHandle | null = null;
  #delayedAcks = new Set<TimerHandle>();
  #updates = 0;
  #acks = 0;
  #listeners = new Set<(s: SimDispenserState) => void>();

  constructor(options: SimDispenserOptions) {
    const keepaliveS = options.keepaliveS ?? 10;
    if (!Number.isInteger(keepaliveS) || keepaliveS < 1 || keepaliveS > 3600) {
      throw new RangeError(`keepaliveS must be an integer 1..3600, got ${keepaliveS}`);
    }
    if (!Number.isInteger(options.id) || options.id < 1 || options.id > 99_999) {
      throw new RangeError(`Dispenser id must be an integer 1..99999, got ${options.id}`);
    }
    this.id = options.id;
    this.#url = options.mqttUrl;
    this.#keepaliveS = keepaliveS;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger ?? createLogger(`sim-dispenser-${options.id}`);
    this.#hopper = new Hopper(this.#clock, options.drainPerMinute ?? DEFAULT_DRAIN_PER_MINUTE);
    this.#bootMono = this.#clock.monotonic();
  }

  get state(): SimDispenserState {
    return {
      version: this.#version,
      dispensing: this.#dispensing,
      status: this.#status,
      session_id: this.#sessionId,
      deadline: this.#deadline,
      remaining_ms: this.#remainingMs(),
      ball_level: this.#ballLevel,
      fault: this.#fault,
      online: this.#wantOnline && (this.#mqtt?.connected ?? false),
      updates_received: this.#updates,
      acks_sent: this.#acks,
    };
  }

  /** Connects (resolves on the first CONNACK and subscription) and starts the heartbeat. */
  async start(): Promise<void> {
    if (this.#stopped) throw new SimDispenserError(`Dispenser ${this.id} was stopped`);
    await this.#connect();
    this.#scheduleHeartbeat();
  }

  /** Disconnects cleanly (retained "offline" first) and cancels every timer. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const h of [this.#heartbeat, this.#failsafe, ...this.#delayedAcks]) {
      if (h !== null) this.#clock.clearTimeout(h);
    }
    this.#delayedAcks.clear();
    this.#heartbeat = this.#failsafe = null;
    const m = this.#mqtt;
    this.#mqtt = null;
    await m?.close();
    this.#hopper.setRunning(false);
  }

  /** Merges `m` into the current misbehaviour; absent fields are kept. Use reset() to clear. */
  misbehave(m: Misbehaviour): void {
    const parsed = SimMisbehaviour.safeParse(m);
    if (!parsed.success) {
      throw new RangeError(
        `Invalid misbehaviour for dispenser ${this.id}: ${
          parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join(
            "; ",
          )
        }`,
      );
    }
    const next: Misbehaviour = { ...this.#mis };
    for (const [k, v] of Object.entries(parsed.data)) {
      if (v !== undefined) (next as Record<string, unknown>)[k] = v;
    }
    this.#setMisbehaviour(next);
  }

  /** Clears every misbehaviour (a jam is cleared, so dispensing resumes if time is left). */
  reset(): void {
    this.#setMisbehaviour({});
  }

  /** Drops the connection abruptly: no DISCONNECT, so the broker publishes the last will. */
  async goOffline(): Promise<void> {
    this.#wantOnline = false;
    const m = this.#mqtt;
    if (!m) return;
    this.#mqtt = null;
    await m.destroy();
    this.#log.info("went offline abruptly");
    this.#emit();
  }

  /** Reconnects after goOffline(); the birth message says "online" again. */
  async comeBack(): Promise<void> {
    if (this.#stopped) throw new SimDispenserError(`Dispenser ${this.id} was stopped`);
    this.#wantOnline = true;
    if (this.#mqtt) return;
    await this.#connect();
    this.#log.info("came back online");
    this.#emit();
  }

  /** Staff filled the hopper; also clears a forced "empty" report. */
  refill(): void {
    const { empty: _, ...rest } = this.#mis;
    this.#mis = rest;
    this.#hopper.refill();
    this.#sendHeartbeat();
    this.#emit();
  }

  /** Called after every change: applied update, failsafe switch-off, fault, refill, online. */
  onChange(fn: (s: SimDispenserState) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  get #fault(): string | null {
    return this.#mis.jam ? "jam" : null;
  }

  get #dispensing(): boolean {
    return this.#running && this.#fault === null;
  }

  get #ballLevel(): BallLevel {
    return this.#mis.empty ? "empty" : this.#hopper.level;
  }

  #remainingMs(): number | null {
    if (this.#running && this.#endMono !== null) {
      return Math.max(0, Math.round(this.#endMono - this.#clock.monotonic()));
    }
    return this.#heldMs;
  }

  async #connect(): Promise<void> {
    const availability = (a: DeviceAvailability) => ({
      topic: topics.availability(this.id),
      payload: JSON.stringify(a),
      qos: 1 as const,
      retain: true,
    });
    const mqtt = new MqttAdapter({
      url: this.#url,
      clientId: `sim-dispenser-${this.id}-${crypto.randomUUID().slice(0, 8)}`,
      keepaliveS: this.#keepaliveS,
      will: availability({ state: "offline" }),
      birth: availability({
        state: "online",
        keepalive_s: this.#keepaliveS,
        firmware: SIM_FIRMWARE,
      }),
      logger: this.#log.child("mqtt"),
    });
    this.#mqtt = mqtt;
    mqtt.on("offline", () => this.#emit());
    try {
      await mqtt.connect();
      await mqtt.subscribe(topics.update(this.id), (_t, p, r) => this.#onUpdate(p, r), 1);
    } catch (err) {
      if (this.#mqtt === mqtt) this.#mqtt = null;
      await mqtt.destroy();
      throw new SimDispenserError(
        `Dispenser ${this.id} could not connect to ${this.#url}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    // Every (re)connect: report at once, then every keepalive_s.
    mqtt.on("connect", () => {
      this.#sendHeartbeat();
      this.#emit();
    });
    this.#sendHeartbeat();
  }

  #onUpdate(payload: Uint8Array, retained: boolean): void {
    if (retained) {
      this.#log.warn("ignored a retained update (updates must never be retained)");
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(decoder.decode(payload));
    } catch {
      this.#log.warn("ignored an update that is not JSON");
      return;
    }
    const parsed = DeviceUpdate.safeParse(json);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((i) =>
        `${i.path.join(".") || "(root)"}: ${i.message}`
      )
        .join("; ");
      this.#log.warn("rejected an invalid update", { problems });
      const raw = (typeof json === "object" && json !== null ? json : {}) as Record<
        string,
        unknown
      >;
      const cid = CorrelationId.safeParse(raw.correlation_id);
      const version = raw.version;
      if (cid.success && typeof version === "number" && Number.isInteger(version) && version > 0) {
        this.#sendAck({
          correlation_id: cid.data,
          status: "error",
          data: { version },
          error: { code: "invalid_payload", message: `Dispenser ${this.id}: ${problems}` },
        });
      }
      return;
    }
    const u = parsed.data;
    this.#updates++;
    if (u.version > this.#version) this.#apply(u);
    this.#sendAck(this.#ackFor(u));
  }

  #apply(u: DeviceUpdate): void {
    if (this.#failsafe !== null) this.#clock.clearTimeout(this.#failsafe);
    this.#failsafe = null;
    this.#version = u.version;
    this.#status = u.status;
    this.#sessionId = u.session_id;
    this.#deadline = u.deadline;
    this.#endMono = null;
    if (u.dispense) {
      const ms = u.remaining_s !== null
        ? u.remaining_s * 1000
        : u.deadline !== null
        ? Math.max(0, u.deadline - this.#clock.now())
        : null;
      if (ms === null) {
        this.#log.warn("dispensing without remaining_s or deadline: runs until the next update", {
          version: u.version,
        });
        this.#running = true;
        this.#heldMs = null;
      } else if (ms <= 0) {
        this.#running = false;
        this.#heldMs = 0;
      } else {
        this.#running = true;
        this.#heldMs = null;
        this.#endMono = this.#clock.monotonic() + ms;
        this.#failsafe = this.#clock.setTimeout(() => this.#expire(), ms);
      }
    } else {
      this.#running = false;
      this.#heldMs = u.remaining_s === null ? null : u.remaining_s * 1000;
    }
    this.#hopper.setRunning(this.#dispensing);
    this.#log.debug("applied update", {
      version: u.version,
      status: u.status,
      dispensing: this.#dispensing,
      remaining_ms: this.#remainingMs(),
    });
    this.#emit();
  }

  /** The local failsafe: the session's time is over, with or without word from the hub. */
  #expire(): void {
    this.#failsafe = null;
    this.#running = false;
    this.#endMono = null;
    this.#heldMs = 0;
    this.#hopper.setRunning(false);
    this.#log.info("countdown reached 0: switched off", { version: this.#version });
    this.#sendHeartbeat();
    this.#emit();
  }

  #ackFor(u: DeviceUpdate): DeviceAck {
    const fault = this.#fault;
    if (u.dispense && fault !== null) {
      return {
        correlation_id: u.correlation_id,
        status: "error",
        data: { version: u.version },
        error: {
          code: fault,
          message: `Dispenser ${this.id} cannot dispense: fault "${fault}"; staff must clear it`,
        },
      };
    }
    return {
      correlation_id: u.correlation_id,
      status: "ok",
      data: { version: u.version, dispensing: this.#dispensing },
    };
  }

  #sendAck(ack: DeviceAck): void {
    if (this.#mis.drop_acks) {
      this.#log.debug("dropping ack (misbehaviour)", { version: ack.data.version });
      return;
    }
    const send = () => {
      const mqtt = this.#mqtt;
      if (!mqtt || this.#stopped) return;
      this.#acks++;
      mqtt.publish(topics.deviceResponse(this.id), JSON.stringify(ack), { qos: 1 }).catch((err) =>
        this.#log.warn("ack not delivered", { version: ack.data.version, error: err })
      );
    };
    const delay = this.#mis.ack_delay_ms ?? 0;
    if (delay <= 0) return send();
    const h = this.#clock.setTimeout(() => {
      this.#delayedAcks.delete(h);
      send();
    }, delay);
    this.#delayedAcks.add(h);
  }

  #scheduleHeartbeat(): void {
    this.#heartbeat = this.#clock.setTimeout(() => {
      this.#sendHeartbeat();
      this.#scheduleHeartbeat();
    }, this.#keepaliveS * 1000);
  }

  #sendHeartbeat(): void {
    const mqtt = this.#mqtt;
    if (!mqtt?.connected || this.#stopped || this.#mis.silent) return;
    const hb: DeviceHeartbeat = {
      sent_at: this.#clock.now(),
      uptime_s: Math.floor((this.#clock.monotonic() - this.#bootMono) / 1000),
      version: this.#version,
      dispensing: this.#dispensing,
      ball_level: this.#ballLevel,
      fault: this.#fault,
    };
    mqtt.publish(topics.heartbeat(this.id), JSON.stringify(hb), { qos: 0 }).catch((err) =>
      this.#log.debug("heartbeat not sent", { error: err })
    );
  }

  #setMisbehaviour(next: Misbehaviour): void {
    const before = { fault: this.#fault, level: this.#ballLevel };
    this.#mis = next;
    this.#hopper.setRunning(this.#dispensing);
    if (before.fault !== this.#fault || before.level !== this.#ballLevel) {
      this.#log.info("sensor report changed", { fault: this.#fault, ball_level: this.#ballLevel });
      this.#sendHeartbeat();
      this.#emit();
    }
  }

  #emit(): void {
    if (this.#listeners.size === 0) return;
    const s = this.state;
    for (const fn of this.#listeners) {
      try {
        fn(s);
      } catch (err) {
        this.#log.error("onChange listener threw", { error: err });
      }
    }
  }
}
