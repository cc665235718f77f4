/**
 * The machine handler: the single source of truth for every bay. Only it changes a bay's status.
 *
 * Each command on `machines/commands` is validated, checked for duplicates, queued behind the
 * bay's earlier commands (bays are independent), decided (`conflicts.ts`) before anything
 * changes, applied in memory, committed to SQLite, published to the dispenser (and the timer,
 * in parallel), and answered on `machines/responses/{origin}` once the dispenser acknowledged.
 * See `docs/machine_handler.md` and `docs/conflicts.md`.
 *
 * Construct it in a Worker through `worker.ts`, or in-thread (tests, benchmarks) with an
 * {@linkcode MqttAdapter}, a started {@linkcode RpcClient} and any {@linkcode Clock}.
 *
 * @module
 */
import { z } from "zod";
import type { Actor } from "../runtime/actor.ts";
import type { ActorHealth } from "../runtime/messages.ts";
import type { Clock } from "../../lib/clock.ts";
import { ConfigError, HandlerConfig, MachineConfig, machineLabel } from "../../lib/config.ts";
import { HandlerError } from "../../lib/errors.ts";
import type { Logger } from "../../lib/log.ts";
import type { MqttAdapter } from "../../lib/mqtt_adapter.ts";
import { type RpcClient, summarizeIssues } from "../../lib/rpc_client.ts";
import { Reply, RpcServer } from "../../lib/rpc_server.ts";
import type { RpcSpec } from "../../protocol/api.ts";
import { CommandAction, CommandResult, MachineCommand } from "../../protocol/command.ts";
import { RequestEnvelope } from "../../protocol/common.ts";
import type { DeviceHeartbeat } from "../../protocol/device.ts";
import type { Alert } from "../../protocol/hub.ts";
import type { MachineState, MachineStatus } from "../../protocol/machine.ts";
import type { StatusData } from "../../protocol/status.ts";
import type { TimerExpired, TimerExpiredResult, TimerState } from "../../protocol/timer.ts";
import { topics } from "../../protocol/topics.ts";
import { decide, decideExpiry, EXPIRY_TOLERANCE_MS } from "./conflicts.ts";
import { DeviceLink, type PushResult, SILENT_AFTER_KEEPALIVES } from "./device_link.ts";
import { DuplicateFilter, type Outcome } from "./duplicates.ts";
import { KeyedQueue } from "./keyed_queue.ts";
import {
  desiredState,
  freshRecord,
  holdIsLive,
  liveHold,
  type MachineRecord,
  statusOf,
  toMachineState,
} from "./machine_record.ts";
import { HandlerStore, INTERRUPTED, type LedgerInsert } from "./store.ts";
import { TimerLink } from "./timer_link.ts";
import {
  applyCommand,
  expireSession,
  lapseHold,
  type TimerOp,
  type Transition,
} from "./transitions.ts";
import { clockTime, duration, sessionOf } from "./wording.ts";

/** The handler's slice of the hub configuration. */
/** Record fields that only mirror what the dispenser reports; not worth a write of their own. */
const OBSERVATIONS: ReadonlySet<string> = new Set(["last_seen", "acked_version"]);

export const MachineHandlerConfig = z.object({
  machines: z.array(MachineConfig).min(1).max(10_000).refine(
    (ms) => new Set(ms.map((m) => m.id)).size === ms.length,
    { message: "machine ids must be unique" },
  ),
  handler: HandlerConfig,
});
export type MachineHandlerConfig = z.infer<typeof MachineHandlerConfig>;
export type MachineHandlerConfigInput = z.input<typeof MachineHandlerConfig>;

/** Validates the handler's configuration; a bad one names the field and the problem. */
export function parseHandlerConfig(input: unknown): MachineHandlerConfig {
  const parsed = MachineHandlerConfig.safeParse(input);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) =>
      `  ${i.path.length ? i.path.join(".") : "(root)"}: ${i.message}`
    );
    throw new ConfigError(`Invalid machine_handler configuration:\n${lines.join("\n")}`, {
      cause: parsed.error,
    });
  }
  return parsed.data;
}

export interface MachineHandlerOptions {
  /** Node name: origin of updates and timer requests (default `machine_handler`). */
  name?: string;
  config: unknown;
  dataDir: string;
  mqtt: MqttAdapter;
  /** Started; its origin receives the timer's replies. */
  rpc: RpcClient;
  clock: Clock;
  log: Logger;
}

/** Commands are validated here (not by the RPC server) so malformed ones reach the ledger too. */
const commandContract = {
  [topics.commands]: {
    request: RequestEnvelope.loose(),
    data: CommandResult,
    replyTopic: topics.originResponses,
  } satisfies RpcSpec,
};

/** A bay's public state as derived from one record (and hold liveness), with its JSON. */
interface Shown {
  record: MachineRecord;
  holdLive: boolean;
  state: MachineState;
  json: string | null;
}

/** Node that `timer/expired` replies go to, and origin of internal changes in the ledger. */
const SELF = "machine_handler";

export class MachineHandler implements Actor {
  readonly #name: string;
  readonly #cfg: MachineHandlerConfig;
  readonly #dataDir: string;
  readonly #mqtt: MqttAdapter;
  readonly #rpc: RpcClient;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #staff: ReadonlySet<string>;
  readonly #records = new Map<number, MachineRecord>();
  readonly #queue = new KeyedQueue<number>();
  readonly #dups: DuplicateFilter;
  readonly #internal = new Set<string>();
  readonly #lastPublished = new Map<number, string>();
  /** Per bay: the state last derived from its record, so a command derives it once. */
  readonly #shown = new Map<number, Shown>();
  readonly #expiryReplies = new Map<string, TimerExpiredResult>();
  readonly #commandsTotal: Record<string, number> = {};
  #store: HandlerStore | null = null;
  #link: DeviceLink | null = null;
  #timer: TimerLink | null = null;
  #servers: RpcServer<Record<string, RpcSpec>>[] = [];
  #offConnect: (() => void) | null = null;
  #started = false;
  #stopping = false;

  constructor(o: MachineHandlerOptions) {
    this.#name = o.name ?? SELF;
    this.#cfg = parseHandlerConfig(o.config);
    this.#dataDir = o.dataDir;
    this.#mqtt = o.mqtt;
    this.#rpc = o.rpc;
    this.#clock = o.clock;
    this.#log = o.log;
    this.#staff = new Set(this.#cfg.handler.staff_origins);
    this.#dups = new DuplicateFilter({
      windowMs: this.#cfg.handler.duplicate_window_ms,
      keyTtlMs: this.#cfg.handler.idempotency_ttl_ms,
    });
  }

  /** The current state of one bay (null if not configured). */
  machine(id: number) {
    const r = this.#records.get(id);
    return r ? this.#shownOf(r).state : null;
  }

  async start(): Promise<void> {
    const h = this.#cfg.handler;
    const store = await HandlerStore.open(this.#dataDir, this.#log.child("store"));
    this.#store = store;
    const now = this.#clock.now();
    const stored = new Map(store.loadRecords().map((r) => [r.machine_id, r]));
    for (const m of this.#cfg.machines) {
      const prev = stored.get(m.id);
      const r = prev
        ? { ...prev, label: machineLabel(m) }
        : freshRecord(m.id, machineLabel(m), h.default_keepalive_s, now);
      this.#records.set(m.id, r);
      store.putRecord(r);
    }
    // Commands whose change was committed but not yet answered when the hub stopped: applied.
    const pending = store.pendingLedger();
    for (const p of pending) {
      const rec = this.#records.get(p.machine_id);
      store.settleLedger(p.seq, {
        outcome: INTERRUPTED,
        code: null,
        reason: "the hub stopped before the dispenser answered; the change stands",
        response: rec ? this.#ok(p.action as CommandResult["action"], rec, p.forced) : null,
        replied_at: now,
      });
    }
    if (pending.length > 0) {
      this.#log.warn("commands were in flight when the hub stopped; their change stands", {
        interrupted: pending.length,
      });
    }
    await store.commit();
    for (
      const c of store.recentCommands(now - Math.max(h.idempotency_ttl_ms, h.duplicate_window_ms))
    ) {
      if (c.idempotency_key === null && now - c.received_at >= h.duplicate_window_ms) continue;
      if (c.fingerprint === null) continue;
      this.#dups.seed(
        { idempotency_key: c.idempotency_key, fingerprint: c.fingerprint },
        c.received_at,
        c.response as Outcome,
      );
    }
    await store.commit();

    this.#timer = new TimerLink({
      rpc: this.#rpc,
      clock: this.#clock,
      log: this.#log.child("timer"),
      timeoutMs: h.timer_timeout_ms,
      onUnanswered: (id, op) =>
        this.#alert(
          id,
          "actor",
          "warning",
          `The timer did not answer for ${
            this.#label(id)
          } (${op.op} of session ${op.session_id}); ` +
            `retrying. The dispenser's own deadline still holds.`,
        ),
      onRecovered: (id, op, attempts) =>
        this.#log.info("timer acknowledged after retries", { id, op: op.op, attempts }),
    });
    this.#link = new DeviceLink({
      mqtt: this.#mqtt,
      clock: this.#clock,
      log: this.#log.child("devices"),
      origin: this.#name,
      ackTimeoutMs: h.ack_timeout_ms,
      ackRetries: h.ack_retries,
      defaultKeepaliveS: h.default_keepalive_s,
      hooks: {
        known: (id) => this.#records.has(id),
        desired: (id) => desiredState(this.#records.get(id)!, this.#clock.now()),
        online: (id, info) => this.#onOnline(id, info),
        offline: (id, cause) => this.#onOffline(id, cause),
        heartbeat: (id, hb) => this.#onHeartbeat(id, hb),
        acked: (id, version, ok) => this.#onAcked(id, version, ok),
        tick: () => this.#tick(),
      },
    });
    for (const r of this.#records.values()) {
      if (r.online) this.#link.assumeOnline(r.machine_id, r.keepalive_s);
    }
    await this.#link.start();

    const commands = new RpcServer(this.#mqtt, {
      contract: commandContract as Record<string, RpcSpec>,
      clock: this.#clock,
      logger: this.#log.child("commands"),
    });
    const std = new RpcServer(this.#mqtt, {
      clock: this.#clock,
      logger: this.#log.child("rpc"),
    });
    this.#servers = [commands, std as unknown as RpcServer<Record<string, RpcSpec>>];
    await commands.handle(topics.commands, (raw) => this.#onCommand(raw));
    await std.handle(topics.statusRequest, (req) => Promise.resolve(this.#status(req.machine_ids)));
    await std.handle(topics.timerExpired, (req) => this.#onTimerExpired(req));

    for (const id of this.#records.keys()) this.#publishState(id);
    // States go out at QoS 0 (they are retained, and the next one supersedes them): after a
    // reconnect (the broker may have restarted and lost them, or a publish may have been
    // dropped while disconnected) every bay's state is published again.
    this.#offConnect = this.#mqtt.on("connect", () => {
      if (this.#stopping) return;
      this.#lastPublished.clear();
      for (const id of this.#records.keys()) this.#publishState(id);
    });
    this.#tick();
    this.#repairTimers();
    this.#started = true;
    this.#log.info("machine handler running", {
      machines: this.#records.size,
      db: store.path,
    });
  }

  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#offConnect?.();
    await Promise.all(this.#servers.map((s) => s.close()));
    this.#link?.stop();
    this.#timer?.stop();
    let t: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#queue.idle(),
      new Promise((r) => t = setTimeout(r, 5_000)),
    ]);
    clearTimeout(t);
    await this.#store?.close();
    this.#log.info("machine handler stopped");
  }

  health(): ActorHealth {
    const byStatus: Partial<Record<MachineStatus, number>> = {};
    const now = this.#clock.now();
    for (const r of this.#records.values()) {
      const s = statusOf(r, now);
      byStatus[s] = (byStatus[s] ?? 0) + 1;
    }
    const store = this.#store;
    return {
      ok: this.#started && !this.#stopping && (store?.healthy ?? false),
      detail: {
        commands_total: { ...this.#commandsTotal },
        machines_by_status: byStatus,
        ack_retries_total: this.#link?.stats.ack_retries_total ?? 0,
        ack_timeouts_total: this.#link?.stats.ack_timeouts ?? 0,
        late_acks_total: this.#link?.stats.late_acks ?? 0,
        updates_sent_total: this.#link?.stats.updates_sent ?? 0,
        acks_awaited: this.#link?.pending ?? 0,
        timer_ops_retrying: this.#timer?.retrying ?? 0,
        store_commits_total: store?.stats.commits ?? 0,
        store_max_batch: store?.stats.max_batch ?? 0,
        store_failures_total: store?.stats.failures ?? 0,
      },
    };
  }

  // ---- commands ------------------------------------------------------------------------------

  async #onCommand(raw: unknown): Promise<Reply<CommandResult>> {
    const received = this.#clock.now();
    const parsed = MachineCommand.safeParse(raw);
    if (!parsed.success) {
      const r = (raw ?? {}) as Record<string, unknown>;
      const action = CommandAction.safeParse(r.action).success ? String(r.action) : "unknown";
      const message = `Invalid machines/commands request: ${summarizeIssues(parsed.error)}`;
      this.#count(action, "invalid_payload");
      this.#store!.appendLedger({
        received_at: received,
        machine_id: Number.isInteger(r.machine_id) ? r.machine_id as number : null,
        origin: String(r.origin),
        action,
        correlation_id: String(r.correlation_id),
        idempotency_key: null,
        fingerprint: null,
        payload: raw,
        outcome: "invalid_payload",
        code: "invalid_payload",
        reason: message,
        rule: "G1",
        replied_at: received,
      });
      throw new HandlerError("invalid_payload", message, {
        details: parsed.error.issues.slice(0, 20).map((i) => ({
          path: i.path.map(String),
          message: i.message,
        })),
      });
    }
    const cmd = parsed.data;
    const base = this.#ledgerBase(cmd, received);
    const check = this.#dups.check(cmd, received);
    if (check.kind === "key_reused") {
      const outcome: Outcome = {
        status: "error",
        error: {
          code: "conflict",
          message: `idempotency_key ${check.key} was already used for a different command; ` +
            `use a new key for a new command`,
        },
      };
      this.#count(cmd.action, "conflict");
      this.#store!.appendLedger({
        ...base,
        fingerprint: null,
        outcome: "conflict",
        code: "conflict",
        reason: outcome.error.message,
        rule: "G3",
        response: outcome,
        replied_at: this.#clock.now(),
      });
      await this.#store!.commit();
      return new Reply(outcome as Reply<CommandResult>["response"]);
    }
    if (check.kind === "duplicate") {
      const first = await check.outcome;
      this.#count(cmd.action, "duplicate");
      this.#store!.appendLedger({
        ...base,
        fingerprint: null,
        outcome: "duplicate",
        reason: "repeats the outcome of an earlier identical command",
        rule: "G2",
        duplicate: true,
        replied_at: this.#clock.now(),
      });
      return new Reply({ ...first, duplicate: true } as Reply<CommandResult>["response"]);
    }
    try {
      const outcome = await this.#queue.run(
        cmd.machine_id,
        () => this.#execute(cmd, { ...base, fingerprint: check.fingerprint }),
      );
      check.settle(outcome);
      this.#count(cmd.action, outcome.status === "ok" ? "ok" : outcome.error.code);
      return new Reply(outcome as Reply<CommandResult>["response"]);
    } catch (err) {
      check.forget();
      this.#count(cmd.action, "internal");
      throw err;
    }
  }

  #ledgerBase(cmd: MachineCommand, received: number) {
    return {
      received_at: received,
      machine_id: cmd.machine_id,
      origin: cmd.origin,
      action: cmd.action as string,
      correlation_id: cmd.correlation_id,
      idempotency_key: cmd.idempotency_key ?? null,
      payload: cmd,
      session_id: "session_id" in cmd ? cmd.session_id ?? null : null,
    };
  }

  async #execute(
    cmd: MachineCommand,
    ledger: Omit<LedgerInsert, "outcome">,
  ): Promise<Outcome> {
    const store = this.#store!;
    const now = this.#clock.now();
    const rec = this.#records.get(cmd.machine_id) ?? null;
    const d = decide({
      record: rec,
      command: cmd,
      now,
      staff: this.#staff.has(cmd.origin),
      staffOrigins: this.#cfg.handler.staff_origins,
      knownSession: cmd.action === "activate" && cmd.session_id !== undefined
        ? store.knownSession(cmd.session_id)
        : null,
      timeZone: this.#cfg.handler.time_zone,
    });
    if (d.kind === "reject") {
      const outcome: Outcome = { status: "error", error: { code: d.code, message: d.message } };
      store.appendLedger({
        ...ledger,
        outcome: d.code,
        code: d.code,
        reason: d.message,
        rule: d.rule,
        response: outcome,
        replied_at: now,
      });
      await store.commit();
      return outcome;
    }
    if (d.kind === "noop") {
      const outcome = this.#ok(cmd.action, rec!, false);
      store.appendLedger({
        ...ledger,
        outcome: "ok",
        reason: "nothing to change",
        rule: d.rule,
        response: outcome,
        replied_at: now,
      });
      await store.commit();
      return outcome;
    }
    const t = applyCommand(rec!, cmd, now, {
      newSessionId: () => `s-${crypto.randomUUID()}`,
      forced: d.forced,
    });
    if (d.forced) {
      this.#log.warn("conflict overridden by force", {
        id: cmd.machine_id,
        action: cmd.action,
        origin: cmd.origin,
        rule: d.rule,
      });
    }
    return await this.#change(t, {
      ...ledger,
      rule: d.rule,
      forced: d.forced,
      session_id: ledger.session_id ?? t.next.session?.session_id ?? null,
    }, cmd.action);
  }

  /**
   * Applies a transition: in memory, durable commit (with the timer operations it needs, in the
   * outbox), then the update to the dispenser and the timer operations in parallel; resolves
   * once the dispenser answered. Runs inside the bay's queue.
   */
  async #change(
    t: Transition,
    ledger: Omit<LedgerInsert, "outcome">,
    action: CommandResult["action"],
  ): Promise<Outcome> {
    const store = this.#store!;
    const id = t.next.machine_id;
    const now = this.#clock.now();
    this.#records.set(id, t.next);
    for (const s of t.sessions) store.writeSession(s);
    store.putRecord(t.next);
    const timerOps = t.timer.map((op) => ({ op, cid: `t-${crypto.randomUUID()}` }));
    for (const { op, cid } of timerOps) store.addTimerOp(id, op, cid, now);
    const seq = store.appendLedger({
      ...ledger,
      outcome: "pending",
      version: t.next.desired_version,
    });
    await store.commit();

    for (const { op, cid } of timerOps) this.#sendTimer(id, op, cid);
    const pushed = await this.#deliver(id, this.#link!.push(id));
    // Usually published already, with the ack; otherwise (offline, timeout) now.
    this.#publishState(id);

    const rec = this.#records.get(id)!;
    const forced = ledger.forced === true;
    let outcome: Outcome;
    if (pushed.kind === "timeout") {
      outcome = {
        status: "error",
        error: {
          code: "device_timeout",
          message: `${rec.label}'s dispenser did not acknowledge the change (${pushed.attempts} ` +
            `attempts); the change is recorded and staff have been alerted`,
          details: { machine: this.#shownOf(rec).state },
        },
      };
    } else if (pushed.kind === "refused") {
      outcome = {
        status: "error",
        error: {
          code: "machine_error",
          message: `${rec.label}'s dispenser refused the change: ${pushed.message}; ` +
            `the change is recorded and staff have been alerted`,
          details: { machine: this.#shownOf(rec).state },
        },
      };
    } else {
      outcome = this.#ok(action, rec, forced);
    }
    store.settleLedger(seq, {
      outcome: outcome.status === "ok" ? "ok" : outcome.error.code,
      code: outcome.status === "ok" ? null : outcome.error.code,
      reason: outcome.status === "ok" ? null : outcome.error.message,
      response: outcome,
      // The state's JSON was made for its publish: spliced in, not serialised again.
      response_json: outcome.status === "ok"
        ? `{"status":"ok","data":{"action":${JSON.stringify(action)},"machine":${
          this.#stateJson(this.#shownOf(rec))
        },"forced":${forced}}}`
        : undefined,
      replied_at: this.#clock.now(),
    });
    return outcome;
  }

  #ok(action: CommandResult["action"], rec: MachineRecord, forced: boolean): Outcome {
    return { status: "ok", data: { action, machine: this.#shownOf(rec).state, forced } };
  }

  /**
   * The public state of a bay's record, derived once per record: records are never changed in
   * place, and the state depends on the time only through whether the hold is live.
   */
  #shownOf(rec: MachineRecord): Shown {
    const now = this.#clock.now();
    const holdLive = holdIsLive(rec, now);
    const c = this.#shown.get(rec.machine_id);
    if (c && c.record === rec && c.holdLive === holdLive) return c;
    const shown: Shown = { record: rec, holdLive, state: toMachineState(rec, now), json: null };
    this.#shown.set(rec.machine_id, shown);
    return shown;
  }

  #stateJson(shown: Shown): string {
    return shown.json ??= JSON.stringify(shown.state);
  }

  /** Handles the dispenser's answer to a push: an error the bay must show is committed. */
  async #deliver(id: number, push: Promise<PushResult>): Promise<PushResult> {
    const result = await push;
    if (result.kind !== "timeout" && result.kind !== "refused") return result;
    const rec = this.#records.get(id)!;
    const reason = result.kind === "timeout"
      ? "dispenser did not acknowledge"
      : `dispenser refused the update: ${result.message}`;
    if (rec.link_error !== reason) {
      this.#update(id, { link_error: reason });
      if (result.kind === "timeout") {
        this.#alert(
          id,
          "unreachable",
          "critical",
          `${rec.label}'s dispenser did not acknowledge ${result.attempts} attempts; ` +
            `it is marked error. ${this.#sessionNote(rec)}Check the dispenser and its network.`,
        );
      } else {
        this.#alert(
          id,
          "fault",
          "critical",
          `${rec.label}'s dispenser refused the update: ${result.message}. ${
            this.#sessionNote(rec)
          }`,
        );
      }
      await this.#store!.commit();
    }
    return result;
  }

  /** Sends a timer operation (in the outbox until the timer answers) and takes its answer. */
  #sendTimer(id: number, op: TimerOp, correlationId: string): void {
    this.#timer!.send(id, op, correlationId).then((a) => {
      if (a.kind === "stopped" || this.#stopping) return;
      this.#store!.ackTimerOp(correlationId);
      if (a.kind === "ok") this.#adoptTimer(id, a.state);
    }).catch((err) => this.#log.error("timer operation failed", { id, error: err }));
  }

  /**
   * The timer decides when paid time is up (it measures remaining time across crashes, reboots
   * and clock jumps): when its deadline for the bay's running session differs from the
   * handler's by more than {@linkcode EXPIRY_TOLERANCE_MS}, the session and the dispenser's
   * failsafe take the timer's. Differences below that are the moments between the two
   * reading the clock.
   */
  #adoptTimer(id: number, state: TimerState): void {
    const differs = (r: MachineRecord | undefined) => {
      const s = r?.session;
      if (!s || s.paid_until === null || state.state !== "running" || state.deadline === null) {
        return false;
      }
      return s.session_id === state.session_id &&
        Math.abs(state.deadline - s.paid_until) > EXPIRY_TOLERANCE_MS;
    };
    if (!differs(this.#records.get(id))) return;
    this.#queue.run(id, async () => {
      const rec = this.#records.get(id)!;
      if (!differs(rec) || this.#stopping) return;
      const s = rec.session!;
      this.#log.warn("the timer's deadline differs from the handler's; the timer's is used", {
        id,
        session_id: s.session_id,
        diff_ms: state.deadline! - s.paid_until!,
      });
      const next: MachineRecord = {
        ...rec,
        session: { ...s, paid_until: state.deadline },
        desired_version: rec.desired_version + 1,
        updated_at: this.#clock.now(),
      };
      this.#records.set(id, next);
      this.#store!.putRecord(next);
      await this.#store!.commit();
      await this.#deliver(id, this.#link!.push(id));
      this.#publishState(id);
    }).catch((err) => this.#log.error("could not take the timer's deadline", { id, error: err }));
  }

  // ---- timer/expired, internal changes -----------------------------------------------------

  #onTimerExpired(req: TimerExpired): Promise<TimerExpiredResult> {
    const seen = this.#expiryReplies.get(req.correlation_id);
    if (seen) return Promise.resolve(seen);
    if (!this.#records.has(req.machine_id)) {
      return Promise.reject(
        new HandlerError("unknown_machine", `There is no bay ${req.machine_id}`),
      );
    }
    return this.#queue.run(req.machine_id, async () => {
      const now = this.#clock.now();
      const rec = this.#records.get(req.machine_id)!;
      const d = decideExpiry(rec, req, now);
      const ledger = {
        received_at: now,
        machine_id: req.machine_id,
        origin: req.origin,
        action: "timer_expired",
        correlation_id: req.correlation_id,
        idempotency_key: null,
        fingerprint: null,
        payload: req,
        rule: d.rule,
        session_id: req.session_id,
      };
      const result: TimerExpiredResult = {
        machine_id: req.machine_id,
        session_id: req.session_id,
        ended: d.ended,
      };
      if (d.ended) {
        await this.#change(expireSession(rec, now, "timer"), ledger, "deactivate");
      } else {
        this.#store!.appendLedger({
          ...ledger,
          outcome: "ok",
          reason: `not ended (${d.rule})`,
          response: result,
          replied_at: now,
        });
        await this.#store!.commit();
      }
      this.#count("timer_expired", "ok");
      this.#expiryReplies.set(req.correlation_id, result);
      if (this.#expiryReplies.size > 1_000) {
        this.#expiryReplies.delete(this.#expiryReplies.keys().next().value!);
      }
      return result;
    });
  }

  /** Runs an internal change (hold lapse, backstop end) once per bay and kind at a time. */
  #internalChange(
    id: number,
    kind: "lapse" | "backstop",
    make: (r: MachineRecord, now: number) => Transition | null,
  ): void {
    const key = `${kind}:${id}`;
    if (this.#internal.has(key) || this.#stopping) return;
    this.#internal.add(key);
    this.#queue.run(id, async () => {
      const now = this.#clock.now();
      const rec = this.#records.get(id)!;
      const t = make(rec, now);
      if (!t) return;
      await this.#change(t, {
        received_at: now,
        machine_id: id,
        origin: SELF,
        action: kind === "lapse" ? "release" : "deactivate",
        correlation_id: null,
        idempotency_key: null,
        fingerprint: null,
        payload: { machine_id: id, reason: kind === "lapse" ? "hold lapsed" : "paid time over" },
        rule: kind === "lapse" ? "I1" : "I2",
        session_id: rec.session?.session_id ?? null,
      }, kind === "lapse" ? "release" : "deactivate");
    }).catch((err) => this.#log.error("internal change failed", { id, kind, error: err }))
      .finally(() => this.#internal.delete(key));
  }

  /** Every sweep: lapse holds, and end sessions the timer has not ended (backstop). */
  #tick(): void {
    const now = this.#clock.now();
    const grace = this.#cfg.handler.expiry_grace_ms;
    for (const r of this.#records.values()) {
      if (r.hold && r.hold.expires_at <= now) {
        this.#internalChange(
          r.machine_id,
          "lapse",
          (cur, at) => cur.hold && cur.hold.expires_at <= at ? lapseHold(cur, at) : null,
        );
      }
      const s = r.session;
      if (s && s.paid_until !== null && s.paid_until + grace <= now) {
        this.#internalChange(r.machine_id, "backstop", (cur, at) => {
          const c = cur.session;
          if (!c || c.paid_until === null || c.paid_until + grace > at) return null;
          this.#log.warn("session past its paid time and not ended by the timer; ending it", {
            id: cur.machine_id,
            session_id: c.session_id,
            late_ms: at - c.paid_until,
          });
          return expireSession(cur, at, SELF);
        });
      }
    }
  }

  /**
   * After a restart: re-send the timer operations it never answered (same correlation ids, in
   * order), then make sure it knows every running or paused session (`start` is idempotent).
   */
  #repairTimers(): void {
    for (const p of this.#store!.pendingTimerOps()) {
      if (this.#records.has(p.machine_id)) this.#sendTimer(p.machine_id, p.op, p.correlation_id);
    }
    const now = this.#clock.now();
    for (const r of this.#records.values()) {
      const s = r.session;
      if (!s) continue;
      const left = s.paid_until === null ? s.remaining_ms ?? 0 : s.paid_until - now;
      if (left <= 0) continue;
      this.#sendTimer(r.machine_id, {
        session_id: s.session_id,
        op: "start",
        duration_ms: left,
      }, `t-${crypto.randomUUID()}`);
      if (s.paid_until === null) {
        this.#sendTimer(
          r.machine_id,
          { session_id: s.session_id, op: "pause" },
          `t-${crypto.randomUUID()}`,
        );
      }
    }
  }

  // ---- dispensers -----------------------------------------------------------------------------

  #onOnline(
    id: number,
    info: { keepalive_s: number; cameBack: boolean; first: boolean },
  ): void {
    const rec = this.#records.get(id)!;
    const was = rec.online;
    this.#update(id, {
      online: true,
      last_seen: this.#clock.now(),
      keepalive_s: info.keepalive_s,
    }, !was || rec.keepalive_s !== info.keepalive_s);
    if (!was && !info.first) {
      this.#alert(id, "online", "info", `${rec.label}'s dispenser is back online`);
    }
    this.#resync(id);
  }

  #onOffline(id: number, cause: "last will" | "silent"): void {
    const rec = this.#records.get(id)!;
    if (!rec.online) return;
    this.#update(id, { online: false });
    const why = cause === "silent"
      ? `sent no heartbeat for over ${+(rec.keepalive_s * SILENT_AFTER_KEEPALIVES).toFixed(1)} s`
      : "dropped its connection";
    const s = rec.session;
    if (s && s.paid_until !== null) {
      this.#alert(
        id,
        "offline",
        "critical",
        `${rec.label}'s dispenser ${why} during ${sessionOf(s.origin)} with ` +
          `${duration(s.paid_until - this.#clock.now())} left. It stops on its own at ` +
          `${clockTime(s.paid_until, this.#cfg.handler.time_zone)}; the session's time keeps ` +
          `running. Check the bay; pause the session to keep the customer's remaining time.`,
      );
    } else {
      this.#alert(id, "offline", "warning", `${rec.label}'s dispenser ${why}; it is offline`);
    }
  }

  #onHeartbeat(id: number, hb: DeviceHeartbeat): void {
    const rec = this.#records.get(id)!;
    const patch: Partial<MachineRecord> = { last_seen: this.#clock.now() };
    let visible = false;
    if (hb.ball_level !== rec.ball_level) {
      patch.ball_level = hb.ball_level;
      visible = true;
      const level = hb.ball_level;
      if (level === "low" || level === "urgent" || level === "empty") {
        this.#alert(
          id,
          "ball_level",
          level === "low" ? "warning" : "critical",
          level === "empty"
            ? `${rec.label} is out of balls; refill it now`
            : level === "urgent"
            ? `${rec.label} is almost out of balls; refill it now`
            : `${rec.label} is low on balls; refill soon`,
        );
      }
    }
    if (hb.fault !== rec.fault) {
      patch.fault = hb.fault;
      visible = true;
      if (hb.fault !== null) {
        this.#alert(
          id,
          "fault",
          "critical",
          `${rec.label}'s dispenser reports a fault: ${hb.fault}. ${this.#sessionNote(rec)}`,
        );
      } else {
        this.#alert(id, "fault", "info", `${rec.label}'s dispenser fault (${rec.fault}) cleared`);
      }
    }
    if (hb.version > rec.desired_version) {
      // The dispenser knows a newer version than the hub (e.g. a restored data directory):
      // move past it so the next update is applied.
      this.#log.warn("dispenser reports a newer version than the hub's; resending", {
        id,
        device: hb.version,
        hub: rec.desired_version,
      });
      patch.desired_version = hb.version + 1;
      patch.updated_at = this.#clock.now();
      visible = true;
    } else if (hb.version === rec.desired_version && rec.acked_version < hb.version) {
      patch.acked_version = hb.version;
      if (rec.link_error !== null) patch.link_error = null;
      visible = true;
    }
    this.#update(id, patch, visible, Object.keys(patch).some((k) => !OBSERVATIONS.has(k)));
    const now = this.#records.get(id)!;
    if (hb.version !== now.desired_version && this.#link!.pendingFor(id) === null) {
      this.#resync(id);
    }
  }

  #onAcked(id: number, version: number, ok: boolean): void {
    const rec = this.#records.get(id)!;
    if (!ok) return;
    const patch: Partial<MachineRecord> = {};
    if (rec.acked_version !== version) patch.acked_version = version;
    if (rec.link_error !== null) {
      patch.link_error = null;
      this.#alert(id, "online", "info", `${rec.label}'s dispenser answers again`);
    }
    const keys = Object.keys(patch);
    if (keys.length > 0) this.#update(id, patch, true, keys.some((k) => !OBSERVATIONS.has(k)));
  }

  #resync(id: number): void {
    this.#deliver(id, this.#link!.resync(id)).catch((err) =>
      this.#log.error("resync failed", { id, error: err })
    );
  }

  // ---- status, state, alerts -----------------------------------------------------------------

  #status(ids: number[] | undefined): StatusData {
    if (ids === undefined) {
      return { machines: [...this.#records.values()].map((r) => this.#shownOf(r).state) };
    }
    const unknown = ids.filter((id) => !this.#records.has(id));
    if (unknown.length > 0) {
      throw new HandlerError(
        "unknown_machine",
        `There is no bay ${unknown.slice(0, 10).join(", ")}${unknown.length > 10 ? ", ..." : ""}`,
        { details: { unknown } },
      );
    }
    return { machines: ids.map((id) => this.#shownOf(this.#records.get(id)!).state) };
  }

  /**
   * Replaces fields of a bay's record, queues it for the store and publishes it if visible.
   * Observations that the dispenser repeats on its next contact (`last_seen`, `acked_version`)
   * are not written on their own (`persist` false): they reach the disk with the record's next
   * write, and after a restart the dispensers report them again.
   */
  #update(id: number, patch: Partial<MachineRecord>, publish = true, persist = true): void {
    const next = { ...this.#records.get(id)!, ...patch };
    this.#records.set(id, next);
    if (persist) this.#store?.putRecord(next);
    if (publish) this.#publishState(id);
  }

  #publishState(id: number): void {
    const rec = this.#records.get(id);
    if (!rec) return;
    const json = this.#stateJson(this.#shownOf(rec));
    if (this.#lastPublished.get(id) === json) return;
    this.#lastPublished.set(id, json);
    this.#mqtt.publish(topics.state(id), json, { qos: 0, retain: true }).catch((err) =>
      this.#log.warn("state not published", { id, error: err })
    );
  }

  #alert(
    machineId: number | null,
    kind: Alert["kind"],
    severity: Alert["severity"],
    message: string,
  ): void {
    const alert: Alert = { machine_id: machineId, kind, severity, message, at: this.#clock.now() };
    (severity === "info" ? this.#log.info : this.#log.warn)("alert", { ...alert });
    this.#mqtt.publish(topics.hubAlerts, JSON.stringify(alert), { qos: 1 }).catch((err) =>
      this.#log.warn("alert not published", { error: err })
    );
  }

  #sessionNote(rec: MachineRecord): string {
    const s = rec.session;
    if (!s) return liveHold(rec, this.#clock.now()) ? "A payment hold is on the bay. " : "";
    if (s.paid_until === null) return `Its session is paused (${sessionOf(s.origin)}). `;
    return `${sessionOf(s.origin)[0].toUpperCase()}${sessionOf(s.origin).slice(1)} is running ` +
      `until ${clockTime(s.paid_until, this.#cfg.handler.time_zone)}; move or pause it. `;
  }

  #label(id: number): string {
    return this.#records.get(id)?.label ?? `Bay ${id}`;
  }

  #count(action: string, outcome: string): void {
    const k = `${action}:${outcome}`;
    this.#commandsTotal[k] = (this.#commandsTotal[k] ?? 0) + 1;
  }
}
