/**
 * The supervisor runs in the main thread. It starts each actor in its own Web Worker, watches it
 * (errors and a ping watchdog), restarts a crashed actor with exponential backoff, and stops all
 * actors gracefully on shutdown.
 *
 * @module
 */
import { createLogger, type Logger } from "../../lib/log.ts";
import { type ActorHealth, FromWorker, type ToWorker } from "./messages.ts";

export interface ActorSpec {
  name: string;
  /** The Worker module (it calls `runActor`). */
  url: string | URL;
  config?: unknown;
}

export type ActorPhase = "starting" | "running" | "restarting" | "stopping" | "stopped";

export interface ActorStatus {
  name: string;
  phase: ActorPhase;
  restarts: number;
  healthy: boolean;
  last_error: string | null;
  started_at: number | null;
  detail: Record<string, unknown>;
}

export interface SupervisorOptions {
  mqttUrl: string;
  dataDir: string;
  hubId?: string;
  logger?: Logger;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** A run that lasted this long resets the backoff. */
  stableAfterMs?: number;
  startTimeoutMs?: number;
  pingIntervalMs?: number;
  /** No pong for this long: the worker is considered hung and restarted. */
  pingTimeoutMs?: number;
  onRestart?: (name: string, reason: string) => void;
}

/** An actor failed to start. */
export class ActorStartError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ActorStartError";
  }
}

interface Slot {
  spec: ActorSpec;
  worker: Worker | null;
  status: ActorStatus;
  backoffMs: number;
  restartTimer: ReturnType<typeof setTimeout> | null;
  pingTimer: ReturnType<typeof setInterval> | null;
  lastPong: number;
  seq: number;
  ready: PromiseWithResolvers<void> | null;
  stopped: PromiseWithResolvers<void> | null;
}

export class Supervisor {
  readonly #opts: Required<Omit<SupervisorOptions, "logger" | "onRestart">> & SupervisorOptions;
  readonly #log: Logger;
  readonly #slots = new Map<string, Slot>();
  #stopping = false;

  constructor(options: SupervisorOptions) {
    this.#opts = {
      hubId: "hub",
      minBackoffMs: 100,
      maxBackoffMs: 10_000,
      stableAfterMs: 30_000,
      startTimeoutMs: 20_000,
      pingIntervalMs: 2_000,
      pingTimeoutMs: 15_000,
      ...options,
    };
    if (this.#opts.minBackoffMs <= 0 || this.#opts.maxBackoffMs < this.#opts.minBackoffMs) {
      throw new RangeError("Supervisor backoff needs 0 < minBackoffMs <= maxBackoffMs");
    }
    this.#log = options.logger ?? createLogger("supervisor");
  }

  /** Registers an actor; call before {@linkcode start}. */
  add(spec: ActorSpec): void {
    if (this.#slots.has(spec.name)) throw new RangeError(`Actor ${spec.name} added twice`);
    this.#slots.set(spec.name, {
      spec,
      worker: null,
      status: {
        name: spec.name,
        phase: "stopped",
        restarts: 0,
        healthy: false,
        last_error: null,
        started_at: null,
        detail: {},
      },
      backoffMs: this.#opts.minBackoffMs,
      restartTimer: null,
      pingTimer: null,
      lastPong: 0,
      seq: 0,
      ready: null,
      stopped: null,
    });
  }

  /** Starts every actor; resolves when all are ready. */
  async start(): Promise<void> {
    await Promise.all([...this.#slots.values()].map((s) => this.#spawn(s)));
  }

  /** Status of every actor, for /healthz and metrics. */
  status(): ActorStatus[] {
    return [...this.#slots.values()].map((s) => ({ ...s.status, detail: { ...s.status.detail } }));
  }

  /** True when every actor is running and reports healthy. */
  get healthy(): boolean {
    return [...this.#slots.values()].every((s) => s.status.phase === "running" && s.status.healthy);
  }

  /**
   * Stops every actor: each finishes or fails its in-flight work, then exits. Workers that do not
   * stop within `timeoutMs` are terminated.
   */
  async stop(timeoutMs = 8_000): Promise<void> {
    this.#stopping = true;
    await Promise.all([...this.#slots.values()].map(async (slot) => {
      if (slot.restartTimer) clearTimeout(slot.restartTimer);
      slot.restartTimer = null;
      this.#clearPing(slot);
      const worker = slot.worker;
      if (!worker) {
        slot.status.phase = "stopped";
        return;
      }
      slot.status.phase = "stopping";
      slot.stopped = Promise.withResolvers<void>();
      this.#send(worker, { type: "stop" });
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = await Promise.race([
        slot.stopped.promise.then(() => false),
        new Promise<boolean>((r) => timer = setTimeout(() => r(true), timeoutMs)),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        this.#log.warn("actor did not stop in time; terminated", { actor: slot.spec.name });
      }
      worker.terminate();
      slot.worker = null;
      slot.status.phase = "stopped";
      slot.status.healthy = false;
    }));
  }

  #send(worker: Worker, msg: ToWorker): void {
    worker.postMessage(msg);
  }

  #spawn(slot: Slot): Promise<void> {
    const { spec } = slot;
    slot.status.phase = slot.status.restarts > 0 ? "restarting" : "starting";
    slot.ready = Promise.withResolvers<void>();
    const worker = new Worker(spec.url, { type: "module", name: spec.name });
    slot.worker = worker;
    slot.lastPong = performance.now();
    const started = performance.now();

    worker.onmessage = (ev: MessageEvent) => {
      if (slot.worker !== worker) return;
      const parsed = FromWorker.safeParse(ev.data);
      if (!parsed.success) {
        this.#log.warn("unexpected message from actor", { actor: spec.name });
        return;
      }
      const msg = parsed.data;
      switch (msg.type) {
        case "ready":
          slot.status.phase = "running";
          slot.status.healthy = true;
          slot.status.started_at = Date.now();
          this.#log.info("actor running", { actor: spec.name, restarts: slot.status.restarts });
          this.#startPing(slot, worker);
          slot.ready?.resolve();
          break;
        case "pong":
          slot.lastPong = performance.now();
          this.#applyHealth(slot, msg.health);
          break;
        case "stopped":
          slot.stopped?.resolve();
          break;
        case "fatal":
          this.#crashed(slot, worker, msg.message, started);
          break;
      }
    };
    worker.onerror = (ev: ErrorEvent) => {
      ev.preventDefault();
      if (slot.worker !== worker) return;
      this.#crashed(slot, worker, ev.message || String(ev.error), started);
    };
    worker.onmessageerror = () => {
      this.#log.warn("undecodable message from actor", { actor: spec.name });
    };
    this.#send(worker, {
      type: "start",
      name: spec.name,
      hub_id: this.#opts.hubId,
      mqtt_url: this.#opts.mqttUrl,
      data_dir: this.#opts.dataDir,
      config: spec.config ?? {},
    });

    const ready = slot.ready;
    let timer: ReturnType<typeof setTimeout> | undefined;
    return Promise.race([
      ready.promise,
      new Promise<void>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new ActorStartError(
                `Actor ${spec.name} did not become ready within ${this.#opts.startTimeoutMs} ms` +
                  (slot.status.last_error ? `: ${slot.status.last_error}` : ""),
              ),
            ),
          this.#opts.startTimeoutMs,
        );
      }),
    ]).finally(() => clearTimeout(timer));
  }

  #applyHealth(slot: Slot, health: ActorHealth): void {
    slot.status.healthy = health.ok;
    slot.status.detail = health.detail ?? {};
  }

  #startPing(slot: Slot, worker: Worker): void {
    this.#clearPing(slot);
    slot.pingTimer = setInterval(() => {
      if (performance.now() - slot.lastPong > this.#opts.pingTimeoutMs) {
        this.#crashed(slot, worker, `no pong for ${this.#opts.pingTimeoutMs} ms (hung)`, 0);
        return;
      }
      this.#send(worker, { type: "ping", seq: ++slot.seq });
    }, this.#opts.pingIntervalMs);
  }

  #clearPing(slot: Slot): void {
    if (slot.pingTimer) clearInterval(slot.pingTimer);
    slot.pingTimer = null;
  }

  #crashed(slot: Slot, worker: Worker, reason: string, startedAt: number): void {
    if (slot.worker !== worker) return;
    this.#clearPing(slot);
    worker.terminate();
    slot.worker = null;
    slot.status.healthy = false;
    slot.status.last_error = reason;
    if (this.#stopping) {
      slot.status.phase = "stopped";
      slot.stopped?.resolve();
      return;
    }
    if (startedAt && performance.now() - startedAt > this.#opts.stableAfterMs) {
      slot.backoffMs = this.#opts.minBackoffMs;
    }
    const delay = slot.backoffMs;
    slot.backoffMs = Math.min(this.#opts.maxBackoffMs, slot.backoffMs * 2);
    slot.status.phase = "restarting";
    slot.status.restarts++;
    this.#log.error("actor crashed; restarting", {
      actor: slot.spec.name,
      reason,
      restart_in_ms: delay,
      restarts: slot.status.restarts,
    });
    this.#opts.onRestart?.(slot.spec.name, reason);
    const pendingReady = slot.ready;
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = null;
      if (this.#stopping) return;
      this.#spawn(slot).then(
        () => pendingReady?.resolve(),
        (err) => this.#log.error("actor restart failed", { actor: slot.spec.name, error: err }),
      );
    }, delay);
  }
}
