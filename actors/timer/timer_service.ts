/**
 * The timer's logic, independent of MQTT: durable per-session countdowns on the monotonic clock,
 * warnings before the end, and `timer/expired` delivered at least once (retried with backoff until
 * the handler answers). The handler checks the session id, so at-least-once delivery is exactly
 * once in effect. See `docs/time.md` for what is stored and how time is measured.
 *
 * @module
 */
import type { ResponseOf } from "../../protocol/common.ts";
import type {
  TimerBatchItemResult,
  TimerBatchResult,
  TimerExpired,
  TimerExpiredResult,
  TimerSet,
  TimerSetBatch,
  TimerSetItem,
  TimerState,
  TimerWarning,
} from "../../protocol/timer.ts";
import type { BootClock } from "../../lib/boot_clock.ts";
import type { Clock, TimerHandle } from "../../lib/clock.ts";
import { HandlerError } from "../../lib/errors.ts";
import { GroupCommit } from "../../lib/group_commit.ts";
import { createLogger, type Logger } from "../../lib/log.ts";
import { Reply } from "../../lib/rpc_server.ts";
import type { PendingDowntime, TimerRow, TimerStatus, TimerStore } from "./store.ts";

/** What `timer/expired` carries, without the envelope. */
export type ExpiryRequest = Omit<TimerExpired, "correlation_id" | "origin" | "sent_at">;

/** Sends one `timer/expired` attempt; resolves to the handler's reply, rejects on no reply. */
export type DeliverExpiry = (
  request: ExpiryRequest,
  options: { correlationId: string; timeoutMs: number },
) => Promise<ResponseOf<TimerExpiredResult>>;

/** Publishes one `timer/warning` event. */
export type PublishWarning = (warning: TimerWarning) => Promise<void> | void;

export interface TimerServiceOptions {
  store: TimerStore;
  clock: Clock;
  bootClock: BootClock;
  deliverExpiry: DeliverExpiry;
  publishWarning: PublishWarning;
  /** Seconds before the end at which `timer/warning` is published. Default [300, 60]. */
  warningsS?: number[];
  logger?: Logger;
  /** How often the last sign of life is written. Default 5 s. */
  aliveIntervalMs?: number;
  /** First retry delay of an unanswered expiry; doubles up to `retryMaxMs`. Default 250 ms. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** How long one `timer/expired` attempt waits for the reply. Default 1 s. */
  attemptTimeoutMs?: number;
  /** Finished timers are kept this long (for idempotent start/cancel). Default 7 days. */
  keepFinishedMs?: number;
  /** Extend correlation ids are kept this long (for deduplication). Default 24 h. */
  keepExtendIdsMs?: number;
}

export interface TimerServiceStats {
  timers_running: number;
  timers_paused: number;
  /** Sessions whose time ran out in this run. */
  expiries_total: number;
  /** `timer/expired` attempts after the first, over all sessions. */
  expiry_retries_total: number;
  /** Expiries answered by the handler in this run. */
  expiries_delivered_total: number;
  /** Expiries not yet answered. */
  expiries_pending: number;
  warnings_total: number;
}

/** One session's timer in memory. `remainingMs` is measured at `anchorMono`. */
interface Entry {
  machineId: number;
  sessionId: string;
  state: TimerStatus;
  paidMs: number;
  remainingMs: number;
  anchorMono: number;
  warningsDone: Set<number>;
  expiryCid: string | null;
  expiredDeadline: number | null;
  delivered: boolean;
  downtimePending: boolean;
  createdWall: number;
}

interface Delivery {
  attempts: number;
  inFlight: boolean;
  retryTimer: TimerHandle | null;
}

/** Error codes of a `timer/expired` reply after which the attempt is repeated. */
const RETRYABLE = new Set(["timeout", "unavailable", "internal"]);
/** Float noise allowed when comparing remaining time with a threshold. */
const EPS = 1e-6;
const PRUNE_EVERY_MS = 3_600_000;
/** Background writes wait this long, to batch a burst of expiries into one transaction. */
const FLUSH_DELAY_MS = 20;
/** ...and are put off while a timer event is due this soon, so the disk never delays it. */
const QUIET_MS = 15;
/** ...but not longer than this. */
const MAX_POSTPONE_MS = 1_000;

function remaining(e: Entry, mono: number): number {
  return e.state === "running" ? e.remainingMs - (mono - e.anchorMono) : e.remainingMs;
}

function clone(e: Entry): Entry {
  return { ...e, warningsDone: new Set(e.warningsDone) };
}

/** The service is not started, or stopped. */
export class TimerServiceStoppedError extends Error {
  constructor(message = "The timer service is not running", options?: ErrorOptions) {
    super(message, options);
    this.name = "TimerServiceStoppedError";
  }
}

export class TimerService {
  readonly #store: TimerStore;
  readonly #clock: Clock;
  readonly #boot: BootClock;
  readonly #deliverExpiry: DeliverExpiry;
  readonly #publishWarning: PublishWarning;
  readonly #warnings: number[];
  readonly #log: Logger;
  readonly #aliveIntervalMs: number;
  readonly #retryMinMs: number;
  readonly #retryMaxMs: number;
  readonly #attemptTimeoutMs: number;
  readonly #keepFinishedMs: number;
  readonly #keepExtendIdsMs: number;

  /** Running, paused and expired-but-undelivered timers (and finished ones until flushed). */
  readonly #live = new Map<string, Entry>();
  readonly #deliveries = new Map<string, Delivery>();
  readonly #dirty = new Set<string>();
  #bootId: string | null = null;
  #bootOffset = 0;
  #wallSuspect = false;
  #pending: PendingDowntime | undefined;
  #timer: TimerHandle | null = null;
  #flushTimer: TimerHandle | null = null;
  #flushSince: number | null = null;
  #aliveDue = false;
  #aliveTimer: TimerHandle | null = null;
  #lastPrune = -Infinity;
  #running = false;
  #stats = { expiries: 0, retries: 0, delivered: 0, warnings: 0 };
  /** True while {@linkcode submit} runs an operation: its writes are staged, not committed. */
  #batching = false;
  /** Inside {@linkcode submitBatch}: the clock was looked at; the wake-up is set at the end. */
  #deferSchedule = false;
  #schedulePending = false;
  /** Entries written by submitted operations, not yet committed (latest per session). */
  readonly #staged = new Map<string, Entry>();
  /** What `#live` held for each staged session before the batch, to undo a failed commit. */
  readonly #stagedPrev = new Map<string, Entry | undefined>();
  /** Extends applied in the staged batch: correlation id, session id, wall time. */
  readonly #stagedExtends = new Map<string, { sessionId: string; wall: number }>();
  readonly #group = new GroupCommit(() => this.#commitStaged());

  constructor(opts: TimerServiceOptions) {
    this.#store = opts.store;
    this.#clock = opts.clock;
    this.#boot = opts.bootClock;
    this.#deliverExpiry = opts.deliverExpiry;
    this.#publishWarning = opts.publishWarning;
    const warnings = opts.warningsS ?? [300, 60];
    for (const w of warnings) {
      if (!Number.isInteger(w) || w <= 0) {
        throw new RangeError(`warningsS must be positive whole seconds, got ${w}`);
      }
    }
    this.#warnings = [...new Set(warnings)].sort((a, b) => b - a);
    this.#log = opts.logger ?? createLogger("timer");
    this.#aliveIntervalMs = opts.aliveIntervalMs ?? 5_000;
    this.#retryMinMs = opts.retryMinMs ?? 250;
    this.#retryMaxMs = opts.retryMaxMs ?? 5_000;
    this.#attemptTimeoutMs = opts.attemptTimeoutMs ?? 1_000;
    this.#keepFinishedMs = opts.keepFinishedMs ?? 7 * 86_400_000;
    this.#keepExtendIdsMs = opts.keepExtendIdsMs ?? 86_400_000;
    if (!(this.#aliveIntervalMs > 0)) throw new RangeError("aliveIntervalMs must be positive");
    if (!(this.#retryMinMs > 0) || this.#retryMaxMs < this.#retryMinMs) {
      throw new RangeError("Retry backoff needs 0 < retryMinMs <= retryMaxMs");
    }
    if (!(this.#attemptTimeoutMs > 0)) throw new RangeError("attemptTimeoutMs must be positive");
  }

  /**
   * Loads the stored timers and re-arms them: time elapsed since each checkpoint is measured on
   * the boot clock within the same boot, and from the wall clock (when trusted) across a reboot.
   * Deadlines that passed meanwhile fire at once.
   */
  start(): void {
    if (this.#running) return;
    this.#bootId = this.#boot.bootId();
    this.#bootOffset = this.#boot.sinceBootMs() - this.#clock.monotonic();
    const mono = this.#clock.monotonic();
    const wall = this.#clock.now();
    const bootNow = mono + this.#bootOffset;
    const synced = this.#boot.wallSynced();
    const alive = this.#store.getAlive();
    const rebooted = alive !== undefined &&
      (alive.boot_id === null || alive.boot_id !== this.#bootId);

    let downtime = 0;
    let newPending: PendingDowntime | undefined;
    let how = "fresh store";
    if (alive && !rebooted) {
      how = "restart within the same boot: elapsed time from the boot clock";
    } else if (alive) {
      this.#wallSuspect = synced === null && wall < alive.wall_ms;
      const nowTrusted = synced === true || (synced === null && wall >= alive.wall_ms);
      if (alive.wall_trusted && nowTrusted) {
        downtime = Math.max(0, wall - alive.wall_ms);
        how = `after a reboot: downtime ${Math.round(downtime)} ms from the wall clock`;
      } else if (alive.wall_trusted && synced === false && this.#bootId !== null) {
        newPending = {
          alive_wall_ms: alive.wall_ms,
          restart_boot_id: this.#bootId,
          restart_boot_ms: bootNow,
        };
        how = "after a reboot: wall clock not synced yet; downtime subtracted once it is";
      } else {
        how = "after a reboot: wall clock untrusted; downtime not counted";
      }
    }
    const stored = this.#store.getPendingDowntime();
    this.#pending = newPending ??
      (stored && stored.restart_boot_id === this.#bootId ? stored : undefined);

    for (const row of this.#store.open()) {
      const e = this.#fromRow(row, mono);
      if (row.state === "running") {
        const sameBoot = row.ck_boot_id !== null && row.ck_boot_id === this.#bootId &&
          bootNow >= row.ck_boot_ms;
        let elapsed: number;
        if (sameBoot) {
          elapsed = bootNow - row.ck_boot_ms;
        } else {
          // Exact on the old boot's clock up to the last sign of life, then the downtime. Where
          // the boot is unknown (no /proc), only the wall clock can span the two.
          let untilAlive = 0;
          if (alive && alive.boot_id !== null && alive.boot_id === row.ck_boot_id) {
            untilAlive = Math.max(0, alive.boot_ms - row.ck_boot_ms);
          } else if (alive && alive.boot_id === null && row.ck_boot_id === null) {
            untilAlive = Math.max(0, alive.wall_ms - row.ck_wall_ms);
          }
          elapsed = untilAlive + downtime;
          if (newPending) e.downtimePending = true;
        }
        e.remainingMs = row.remaining_ms - elapsed;
      }
      if (!this.#pending) e.downtimePending = false;
      this.#live.set(e.sessionId, e);
    }
    this.#store.transaction(() => {
      for (const e of this.#live.values()) this.#store.put(this.#toRow(e, mono, wall));
      this.#store.setPendingDowntime(this.#pending);
      this.#writeAlive(mono, wall);
    });
    this.#running = true;
    const counts = this.health();
    this.#log.info("timers re-armed", {
      how,
      running: counts.timers_running,
      paused: counts.timers_paused,
      expiries_pending: counts.expiries_pending,
    });
    this.#tick();
    for (const e of this.#live.values()) {
      if (e.state === "expired" && !e.delivered) this.#deliver(e);
    }
    this.#scheduleAlive();
  }

  /** Stops every timer and retry, and writes what is not yet on disk. */
  stop(): void {
    if (!this.#running) return;
    this.#running = false;
    for (const h of [this.#timer, this.#flushTimer, this.#aliveTimer]) {
      if (h !== null) this.#clock.clearTimeout(h);
    }
    this.#timer = this.#flushTimer = this.#aliveTimer = null;
    this.#flushSince = null;
    for (const d of this.#deliveries.values()) {
      if (d.retryTimer !== null) this.#clock.clearTimeout(d.retryTimer);
      d.retryTimer = null;
    }
    this.#flush();
  }

  get running(): boolean {
    return this.#running;
  }

  /**
   * Handles one `timer/set` with group commit: the change applies in memory at once (so later
   * operations see it), and the returned promise resolves only once it is on disk, committed in
   * one transaction with every other operation submitted in the same event-loop turn. Rejects
   * with {@linkcode HandlerError} when refused, and with the store's error if the commit failed
   * (then the batch's changes are undone in memory too).
   */
  submit(req: TimerSet): Promise<TimerState | Reply<TimerState>> {
    let result: TimerState | Reply<TimerState>;
    this.#batching = true;
    try {
      result = this.set(req);
    } catch (err) {
      return Promise.reject(err);
    } finally {
      this.#batching = false;
    }
    // Also an answer that changed nothing (an idempotent repeat) may rest on a staged change.
    if (this.#staged.size === 0 && this.#stagedExtends.size === 0) return Promise.resolve(result);
    return this.#group.wait().then(() => result);
  }

  /**
   * Handles one `timer/set_batch`: each operation goes through {@linkcode set} in order, with its
   * own correlation id where `timer/set` uses the request's (extend deduplication), and all are
   * committed in the same group commit as everything else submitted in this event-loop turn. The
   * reply resolves only once that commit is done. A refused operation becomes an `error` result
   * with its code and message and does not affect the others; the whole request is rejected when
   * the timer is not running, or with the store's error when the commit failed.
   */
  submitBatch(req: TimerSetBatch): Promise<TimerBatchResult> {
    if (!this.#running) {
      return Promise.reject(new HandlerError("unavailable", "The timer is not running"));
    }
    const results: TimerBatchItemResult[] = [];
    // One look at the clock for the whole batch (its operations are microseconds apart): the
    // expiries and warnings due are handled once, before the first operation, and the next
    // wake-up is computed once, after the last, instead of a pass over every timer each.
    this.#tick();
    this.#batching = true;
    this.#deferSchedule = true;
    try {
      for (const item of req.ops) results.push(this.#batchItem(req, item));
    } finally {
      this.#batching = false;
      this.#deferSchedule = false;
      if (this.#schedulePending) {
        this.#schedulePending = false;
        this.#schedule(this.#clock.monotonic());
      }
    }
    const answer = { results };
    if (this.#staged.size === 0 && this.#stagedExtends.size === 0) return Promise.resolve(answer);
    return this.#group.wait().then(() => answer);
  }

  /** One operation of a batch, staged; refusals and failures become its error result. */
  #batchItem(req: TimerSetBatch, item: TimerSetItem): TimerBatchItemResult {
    const correlation_id = item.correlation_id;
    try {
      const r = this.set({ ...item, origin: req.origin, sent_at: req.sent_at });
      if (!(r instanceof Reply)) return { correlation_id, status: "ok", data: r };
      return { ...r.response, correlation_id };
    } catch (err) {
      if (err instanceof HandlerError) {
        return {
          correlation_id,
          status: "error",
          error: {
            code: err.code,
            message: err.message,
            ...(err.details === undefined ? {} : { details: err.details }),
          },
        };
      }
      this.#log.error("timer/set_batch operation failed", {
        machine_id: item.machine_id,
        session_id: item.session_id,
        op: item.op,
        error: err,
      });
      return {
        correlation_id,
        status: "error",
        error: {
          code: "internal",
          message: `Internal error while handling ${item.op} of session ${item.session_id}: ${
            err instanceof Error ? err.message : String(err)
          }`,
        },
      };
    }
  }

  /** Group commits done, and the most operations one of them carried. */
  get groupCommitStats(): { commits: number; max_batch: number } {
    return this.#group.stats;
  }

  /**
   * Handles one `timer/set` and commits it before returning (one transaction per operation;
   * {@linkcode submit} batches). Throws {@linkcode HandlerError} with a stable code when refused.
   */
  set(req: TimerSet): TimerState | Reply<TimerState> {
    if (!this.#running) throw new HandlerError("unavailable", "The timer is not running");
    if (!this.#deferSchedule) this.#tick();
    switch (req.op) {
      case "start":
        return this.#start(req, req.duration_ms as number);
      case "extend":
        return this.#extend(req, req.add_ms as number);
      case "pause":
        return this.#pause(req);
      case "resume":
        return this.#resume(req);
      case "cancel":
        return this.#cancel(req);
    }
  }

  /** The timer of `sessionId` as it now stands, if known. */
  get(sessionId: string): TimerState | undefined {
    const e = this.#find(sessionId);
    return e ? this.#state(e) : undefined;
  }

  health(): TimerServiceStats {
    let running = 0;
    let paused = 0;
    let pending = 0;
    for (const e of this.#live.values()) {
      if (e.state === "running") running++;
      else if (e.state === "paused") paused++;
      else if (e.state === "expired" && !e.delivered) pending++;
    }
    return {
      timers_running: running,
      timers_paused: paused,
      expiries_total: this.#stats.expiries,
      expiry_retries_total: this.#stats.retries,
      expiries_delivered_total: this.#stats.delivered,
      expiries_pending: pending,
      warnings_total: this.#stats.warnings,
    };
  }

  // ---- operations -------------------------------------------------------------------------

  #start(req: TimerSet, durationMs: number): TimerState {
    const known = this.#find(req.session_id);
    if (known) {
      this.#sameMachine(known, req);
      return this.#state(known);
    }
    const mono = this.#clock.monotonic();
    const wall = this.#clock.now();
    const changed: Entry[] = [];
    for (const old of this.#live.values()) {
      if (old.machineId !== req.machine_id) continue;
      if (old.state === "running" || old.state === "paused") {
        const c = clone(old);
        c.remainingMs = remaining(old, mono);
        c.anchorMono = mono;
        c.state = "cancelled";
        changed.push(c);
      } else if (old.state === "expired" && !old.delivered) {
        const c = clone(old);
        c.delivered = true;
        changed.push(c);
      }
    }
    const e: Entry = {
      machineId: req.machine_id,
      sessionId: req.session_id,
      state: "running",
      paidMs: durationMs,
      remainingMs: durationMs,
      anchorMono: mono,
      warningsDone: new Set(),
      expiryCid: null,
      expiredDeadline: null,
      delivered: false,
      downtimePending: false,
      createdWall: wall,
    };
    this.#skipWarnings(e, durationMs);
    this.#commit([e, ...changed], mono, wall);
    for (const c of changed) {
      this.#log.info("timer replaced by a new session on the same machine", {
        machine_id: c.machineId,
        session_id: c.sessionId,
        by: e.sessionId,
      });
    }
    this.#log.info("timer started", {
      machine_id: e.machineId,
      session_id: e.sessionId,
      duration_ms: durationMs,
    });
    return this.#state(e);
  }

  #extend(req: TimerSet, addMs: number): TimerState | Reply<TimerState> {
    const seenFor = this.#stagedExtends.get(req.correlation_id)?.sessionId ??
      this.#store.extendSeen(req.correlation_id);
    if (seenFor !== undefined) {
      if (seenFor !== req.session_id) {
        throw new HandlerError(
          "conflict",
          `correlation_id ${req.correlation_id} was already used to extend session ${seenFor}; ` +
            "use a new correlation id for a new request",
        );
      }
      const e = this.#find(seenFor);
      if (e) return new Reply({ status: "ok", data: this.#state(e), duplicate: true });
    }
    const cur = this.#live.get(req.session_id);
    const e = this.#requireActive(cur, req, "extend");
    const mono = this.#clock.monotonic();
    const wall = this.#clock.now();
    const next = clone(e);
    next.remainingMs = remaining(e, mono) + addMs;
    next.anchorMono = mono;
    next.paidMs += addMs;
    this.#skipWarnings(next, next.remainingMs);
    if (this.#batching) {
      this.#stagedExtends.set(req.correlation_id, { sessionId: req.session_id, wall });
      this.#commit([next], mono, wall);
    } else {
      this.#commit(
        [next],
        mono,
        wall,
        () => this.#store.recordExtend(req.correlation_id, req.session_id, wall),
      );
    }
    this.#log.info("timer extended", {
      machine_id: next.machineId,
      session_id: next.sessionId,
      add_ms: addMs,
      remaining_ms: Math.round(next.remainingMs),
    });
    return this.#state(next);
  }

  #pause(req: TimerSet): TimerState {
    const e = this.#requireActive(this.#live.get(req.session_id), req, "pause");
    if (e.state === "paused") return this.#state(e);
    const mono = this.#clock.monotonic();
    const next = clone(e);
    next.remainingMs = remaining(e, mono);
    next.anchorMono = mono;
    next.state = "paused";
    this.#commit([next], mono, this.#clock.now());
    this.#log.info("timer paused", {
      machine_id: next.machineId,
      session_id: next.sessionId,
      remaining_ms: Math.round(next.remainingMs),
    });
    return this.#state(next);
  }

  #resume(req: TimerSet): TimerState {
    const e = this.#requireActive(this.#live.get(req.session_id), req, "resume");
    if (e.state === "running") return this.#state(e);
    const mono = this.#clock.monotonic();
    const next = clone(e);
    next.anchorMono = mono;
    next.state = "running";
    this.#commit([next], mono, this.#clock.now());
    this.#log.info("timer resumed", {
      machine_id: next.machineId,
      session_id: next.sessionId,
      remaining_ms: Math.round(next.remainingMs),
    });
    return this.#state(next);
  }

  #cancel(req: TimerSet): TimerState {
    const mono = this.#clock.monotonic();
    const wall = this.#clock.now();
    const e = this.#find(req.session_id);
    if (!e) {
      // Unknown: keep a tombstone so a late, retried start cannot bring the session back.
      const tomb: Entry = {
        machineId: req.machine_id,
        sessionId: req.session_id,
        state: "cancelled",
        paidMs: 0,
        remainingMs: 0,
        anchorMono: mono,
        warningsDone: new Set(),
        expiryCid: null,
        expiredDeadline: null,
        delivered: false,
        downtimePending: false,
        createdWall: wall,
      };
      this.#commit([tomb], mono, wall);
      return this.#state(tomb);
    }
    this.#sameMachine(e, req);
    if (e.state === "cancelled" || (e.state === "expired" && e.delivered)) return this.#state(e);
    const next = clone(e);
    if (e.state === "expired") {
      next.delivered = true; // the handler ended the session itself: stop retrying
    } else {
      next.remainingMs = remaining(e, mono);
      next.anchorMono = mono;
      next.state = "cancelled";
    }
    this.#commit([next], mono, wall);
    this.#log.info("timer cancelled", {
      machine_id: next.machineId,
      session_id: next.sessionId,
      remaining_ms: Math.round(Math.max(0, next.remainingMs)),
    });
    return this.#state(next);
  }

  #requireActive(e: Entry | undefined, req: TimerSet, op: string): Entry {
    if (!e) {
      const known = this.#find(req.session_id);
      if (known) {
        this.#sameMachine(known, req);
        throw new HandlerError(
          "not_active",
          `Cannot ${op} session ${req.session_id}: its timer is already ${known.state}`,
        );
      }
      throw new HandlerError(
        "stale_session",
        `Cannot ${op} session ${req.session_id}: the timer does not know it (start it first)`,
      );
    }
    this.#sameMachine(e, req);
    if (e.state === "expired" || e.state === "cancelled") {
      throw new HandlerError(
        "not_active",
        `Cannot ${op} session ${req.session_id}: its timer is already ${e.state}`,
      );
    }
    return e;
  }

  #sameMachine(e: Entry, req: TimerSet): void {
    if (e.machineId !== req.machine_id) {
      throw new HandlerError(
        "conflict",
        `Session ${req.session_id} belongs to machine ${e.machineId}, not ${req.machine_id}`,
      );
    }
  }

  /** Marks as done every warning that can no longer be crossed from `remainingMs`. */
  #skipWarnings(e: Entry, remainingMs: number): void {
    for (const w of this.#warnings) if (w * 1000 >= remainingMs - EPS) e.warningsDone.add(w);
  }

  // ---- countdown --------------------------------------------------------------------------

  /** Publishes due warnings and fires due expiries, then re-arms the one clock timeout. */
  #tick(): void {
    if (!this.#running) return;
    const mono = this.#clock.monotonic();
    const wall = this.#clock.now();
    const expired: Entry[] = [];
    const warnings: TimerWarning[] = [];
    for (const e of this.#live.values()) {
      if (e.state !== "running") continue;
      const r = remaining(e, mono);
      let crossed = false;
      for (const w of this.#warnings) {
        if (!e.warningsDone.has(w) && w * 1000 >= r - EPS) {
          e.warningsDone.add(w);
          crossed = true;
        }
      }
      if (crossed) {
        this.#markDirty(e);
        // Catching up (late timer, downtime): only the most urgent warning is sent.
        if (r > EPS) {
          warnings.push({
            machine_id: e.machineId,
            session_id: e.sessionId,
            remaining_s: Math.ceil(r / 1000 - EPS),
            deadline: Math.round(wall + r),
            sent_at: wall,
          });
        }
      }
      if (r <= EPS) {
        e.state = "expired";
        e.remainingMs = 0;
        e.anchorMono = mono;
        e.expiredDeadline = Math.max(0, Math.round(wall + r));
        e.expiryCid = `expire-${crypto.randomUUID()}`;
        e.delivered = false;
        this.#stats.expiries++;
        expired.push(e);
        this.#markDirty(e);
      }
    }
    // Send first, write after: a crash in between re-fires the expiry, which the handler ignores.
    for (const e of expired) {
      this.#log.info("session time is over", {
        machine_id: e.machineId,
        session_id: e.sessionId,
        late_ms: Math.round(wall - (e.expiredDeadline ?? wall)),
      });
      this.#deliver(e);
    }
    for (const w of warnings) {
      this.#stats.warnings++;
      try {
        Promise.resolve(this.#publishWarning(w)).catch((err) =>
          this.#log.warn("could not publish timer/warning", {
            session_id: w.session_id,
            error: err,
          })
        );
      } catch (err) {
        this.#log.warn("could not publish timer/warning", { session_id: w.session_id, error: err });
      }
    }
    this.#schedule(mono);
  }

  /** Milliseconds until the next warning or expiry of any running timer (Infinity: none). */
  #nextEventIn(mono: number): number {
    let next = Infinity;
    for (const e of this.#live.values()) {
      if (e.state !== "running") continue;
      const r = remaining(e, mono);
      next = Math.min(next, r);
      for (const w of this.#warnings) {
        if (!e.warningsDone.has(w) && w * 1000 < r) next = Math.min(next, r - w * 1000);
      }
    }
    return next;
  }

  #schedule(mono: number): void {
    if (this.#deferSchedule) {
      this.#schedulePending = true;
      return;
    }
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
    if (!this.#running) return;
    const next = this.#nextEventIn(mono);
    if (next === Infinity) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = null;
      this.#tick();
    }, Math.max(0, Math.ceil(next)));
  }

  // ---- expiry delivery --------------------------------------------------------------------

  #deliver(e: Entry): void {
    if (!this.#running || e.state !== "expired" || e.delivered) return;
    let d = this.#deliveries.get(e.sessionId);
    if (!d) {
      d = { attempts: 0, inFlight: false, retryTimer: null };
      this.#deliveries.set(e.sessionId, d);
    }
    if (d.inFlight || d.retryTimer !== null) return;
    const delivery = d;
    delivery.inFlight = true;
    delivery.attempts++;
    if (delivery.attempts > 1) this.#stats.retries++;
    const sessionId = e.sessionId;
    let attempt: Promise<ResponseOf<TimerExpiredResult>>;
    try {
      attempt = this.#deliverExpiry(
        { machine_id: e.machineId, session_id: sessionId, deadline: e.expiredDeadline as number },
        { correlationId: e.expiryCid as string, timeoutMs: this.#attemptTimeoutMs },
      );
    } catch (err) {
      attempt = Promise.reject(err);
    }
    attempt.then((res) => {
      delivery.inFlight = false;
      if (res.status === "ok") {
        this.#delivered(sessionId, res.data.ended, delivery.attempts);
      } else if (RETRYABLE.has(res.error.code)) {
        this.#retry(sessionId, delivery, `${res.error.code}: ${res.error.message}`);
      } else {
        this.#log.warn("handler refused timer/expired; not repeated", {
          session_id: sessionId,
          code: res.error.code,
          message: res.error.message,
        });
        this.#delivered(sessionId, false, delivery.attempts);
      }
    }, (err) => {
      delivery.inFlight = false;
      this.#retry(sessionId, delivery, err instanceof Error ? err.message : String(err));
    });
  }

  #delivered(sessionId: string, ended: boolean, attempts: number): void {
    this.#deliveries.delete(sessionId);
    const e = this.#live.get(sessionId);
    if (!e || e.state !== "expired" || e.delivered) return;
    e.delivered = true;
    this.#stats.delivered++;
    this.#markDirty(e);
    this.#log.info(ended ? "handler ended the session" : "handler ignored a stale expiry", {
      machine_id: e.machineId,
      session_id: sessionId,
      attempts,
    });
  }

  #retry(sessionId: string, d: Delivery, reason: string): void {
    const e = this.#live.get(sessionId);
    if (!this.#running || !e || e.state !== "expired" || e.delivered) {
      this.#deliveries.delete(sessionId);
      return;
    }
    const delay = Math.min(this.#retryMaxMs, this.#retryMinMs * 2 ** Math.min(20, d.attempts - 1));
    if (d.attempts === 1 || d.attempts % 10 === 0) {
      this.#log.warn("timer/expired not answered; retrying", {
        session_id: sessionId,
        attempts: d.attempts,
        retry_in_ms: delay,
        reason,
      });
    }
    d.retryTimer = this.#clock.setTimeout(() => {
      d.retryTimer = null;
      const cur = this.#live.get(sessionId);
      if (cur) this.#deliver(cur);
    }, delay);
  }

  // ---- persistence ------------------------------------------------------------------------

  #find(sessionId: string): Entry | undefined {
    const live = this.#live.get(sessionId) ?? this.#staged.get(sessionId);
    if (live) return live;
    const row = this.#store.get(sessionId);
    return row ? this.#fromRow(row, this.#clock.monotonic()) : undefined;
  }

  /**
   * Writes `entries` (and `extra`) durably, then makes them the in-memory state. Inside
   * {@linkcode submit} they are staged for the group commit instead (and are the in-memory
   * state at once); otherwise the staged batch is committed first, so writes stay in order.
   */
  #commit(entries: Entry[], mono: number, wall: number, extra?: () => void): void {
    if (this.#batching) {
      if (extra) throw new Error("timer: a staged commit cannot carry extra writes");
      for (const e of entries) {
        if (!this.#stagedPrev.has(e.sessionId)) {
          this.#stagedPrev.set(e.sessionId, this.#live.get(e.sessionId));
        }
        this.#staged.set(e.sessionId, e);
      }
    } else {
      this.#group.flush();
      this.#store.transaction(() => {
        for (const e of entries) this.#store.put(this.#toRow(e, mono, wall));
        extra?.();
        this.#writeAlive(mono, wall);
      });
    }
    for (const e of entries) {
      this.#dirty.delete(e.sessionId);
      if (this.#isFinished(e)) {
        this.#live.delete(e.sessionId);
        const d = this.#deliveries.get(e.sessionId);
        if (d && d.retryTimer !== null) this.#clock.clearTimeout(d.retryTimer);
        this.#deliveries.delete(e.sessionId);
      } else {
        this.#live.set(e.sessionId, e);
      }
    }
    this.#schedule(mono);
  }

  /** The group commit: everything staged, in one transaction. */
  #commitStaged(): void {
    if (this.#staged.size === 0 && this.#stagedExtends.size === 0) return;
    const mono = this.#clock.monotonic();
    const wall = this.#clock.now();
    try {
      this.#store.transaction(() => {
        for (const e of this.#staged.values()) this.#store.put(this.#toRow(e, mono, wall));
        for (const [cid, x] of this.#stagedExtends) {
          this.#store.recordExtend(cid, x.sessionId, x.wall);
        }
        this.#writeAlive(mono, wall);
      });
    } catch (err) {
      this.#log.error("could not commit timer/set operations; they are undone", {
        operations: this.#staged.size,
        error: err,
      });
      this.#undoStaged(mono);
      throw err;
    }
    this.#staged.clear();
    this.#stagedPrev.clear();
    this.#stagedExtends.clear();
  }

  /** A failed group commit: the in-memory state goes back to what is on disk. */
  #undoStaged(mono: number): void {
    for (const [id, prev] of this.#stagedPrev) {
      if (prev) this.#live.set(id, prev);
      else this.#live.delete(id);
    }
    this.#staged.clear();
    this.#stagedPrev.clear();
    this.#stagedExtends.clear();
    this.#schedule(mono);
    for (const e of this.#live.values()) {
      if (e.state === "expired" && !e.delivered) this.#deliver(e);
    }
  }

  #isFinished(e: Entry): boolean {
    return e.state === "cancelled" || (e.state === "expired" && e.delivered);
  }

  #markDirty(e: Entry): void {
    this.#dirty.add(e.sessionId);
    this.#requestFlush();
  }

  /**
   * Background writes (expired state, warnings sent, answers received, sign of life) happen
   * shortly after, batched, and never just before a timer event: a synchronous fsync (slow on
   * an SD card) must not delay an expiry.
   */
  #requestFlush(): void {
    if (this.#flushTimer !== null || !this.#running) return;
    this.#flushSince ??= this.#clock.monotonic();
    this.#flushTimer = this.#clock.setTimeout(() => {
      this.#flushTimer = null;
      this.#quietFlush();
    }, FLUSH_DELAY_MS);
  }

  #quietFlush(): void {
    if (!this.#running) return;
    const mono = this.#clock.monotonic();
    const next = this.#nextEventIn(mono);
    if (next < QUIET_MS && mono - (this.#flushSince ?? mono) < MAX_POSTPONE_MS) {
      this.#flushTimer = this.#clock.setTimeout(() => {
        this.#flushTimer = null;
        this.#quietFlush();
      }, Math.max(0, Math.ceil(next)) + 1);
      return;
    }
    this.#flushSince = null;
    this.#flush();
  }

  #flush(): void {
    this.#group.flush();
    if (this.#dirty.size === 0 && !this.#aliveDue) return;
    const mono = this.#clock.monotonic();
    const wall = this.#clock.now();
    const ids = [...this.#dirty];
    try {
      this.#store.transaction(() => {
        for (const id of ids) {
          const e = this.#live.get(id);
          if (e) this.#store.put(this.#toRow(e, mono, wall));
        }
        this.#writeAlive(mono, wall);
      });
      this.#aliveDue = false;
      if (mono - this.#lastPrune >= PRUNE_EVERY_MS) {
        this.#lastPrune = mono;
        const n = this.#store.prune(wall - this.#keepFinishedMs, wall - this.#keepExtendIdsMs);
        if (n > 0) this.#log.debug("pruned finished timers and old extend ids", { rows: n });
      }
    } catch (err) {
      this.#log.error("could not write timer state; will retry", { error: err });
      this.#requestFlush();
      return;
    }
    for (const id of ids) {
      this.#dirty.delete(id);
      const e = this.#live.get(id);
      if (e && this.#isFinished(e)) this.#live.delete(id);
    }
  }

  #writeAlive(mono: number, wall: number): void {
    const synced = this.#boot.wallSynced();
    this.#store.putAlive({
      boot_id: this.#bootId,
      boot_ms: mono + this.#bootOffset,
      wall_ms: wall,
      wall_trusted: synced === true || (synced === null && !this.#wallSuspect),
    });
  }

  #scheduleAlive(): void {
    if (!this.#running) return;
    this.#aliveTimer = this.#clock.setTimeout(() => {
      this.#aliveTimer = null;
      this.#aliveTick();
      this.#scheduleAlive();
    }, this.#aliveIntervalMs);
  }

  #aliveTick(): void {
    const mono = this.#clock.monotonic();
    const wall = this.#clock.now();
    const synced = this.#boot.wallSynced();
    if (synced === true) this.#wallSuspect = false;
    if (this.#pending && synced === true) this.#applyPendingDowntime(mono, wall);
    this.#aliveDue = true;
    this.#requestFlush();
  }

  /**
   * The wall clock is synchronised now: the restart that found it unsynced happened at
   * `wall - (bootNow - restart_boot_ms)` real time, so the reboot's downtime can be measured and
   * taken from the sessions that were running through it.
   */
  #applyPendingDowntime(mono: number, wall: number): void {
    const p = this.#pending as PendingDowntime;
    const bootNow = mono + this.#bootOffset;
    const restartWall = wall - (bootNow - p.restart_boot_ms);
    const downtime = Math.max(0, restartWall - p.alive_wall_ms);
    const changed: Entry[] = [];
    for (const e of this.#live.values()) {
      if (!e.downtimePending) continue;
      const next = clone(e);
      next.downtimePending = false;
      if (e.state === "running" || e.state === "paused") {
        next.remainingMs = remaining(e, mono) - downtime;
        next.anchorMono = mono;
        if (next.state === "paused") next.remainingMs = Math.max(0, next.remainingMs);
      }
      changed.push(next);
    }
    this.#pending = undefined;
    try {
      this.#commit(changed, mono, wall, () => this.#store.setPendingDowntime(undefined));
    } catch (err) {
      this.#log.error("could not apply the reboot's downtime", { error: err });
      return;
    }
    this.#log.info("wall clock synchronised: reboot downtime taken from running sessions", {
      downtime_ms: Math.round(downtime),
      sessions: changed.length,
    });
    this.#tick();
  }

  #toRow(e: Entry, mono: number, wall: number): TimerRow {
    return {
      session_id: e.sessionId,
      machine_id: e.machineId,
      state: e.state,
      remaining_ms: Math.max(0, remaining(e, mono)),
      paid_ms: e.paidMs,
      ck_boot_id: this.#bootId,
      ck_boot_ms: mono + this.#bootOffset,
      ck_wall_ms: wall,
      warnings_done: [...e.warningsDone].sort((a, b) => b - a),
      expiry_cid: e.expiryCid,
      expired_deadline: e.expiredDeadline,
      delivered: e.delivered,
      downtime_pending: e.downtimePending,
      created_wall: e.createdWall,
      updated_wall: wall,
    };
  }

  #fromRow(row: TimerRow, mono: number): Entry {
    return {
      machineId: row.machine_id,
      sessionId: row.session_id,
      state: row.state,
      paidMs: row.paid_ms,
      remainingMs: row.remaining_ms,
      anchorMono: mono,
      warningsDone: new Set(row.warnings_done),
      expiryCid: row.expiry_cid,
      expiredDeadline: row.expired_deadline,
      delivered: row.delivered,
      downtimePending: row.downtime_pending,
      createdWall: row.created_wall,
    };
  }

  #state(e: Entry): TimerState {
    const mono = this.#clock.monotonic();
    const r = remaining(e, mono);
    return {
      machine_id: e.machineId,
      session_id: e.sessionId,
      state: e.state,
      remaining_ms: Math.max(0, Math.round(r)),
      deadline: e.state === "running"
        ? Math.max(0, Math.round(this.#clock.now() + r))
        : e.state === "expired"
        ? e.expiredDeadline
        : null,
    };
  }
}
