/**
 * The machine handler's durable store: SQLite through Deno's built-in `node:sqlite`, WAL with
 * `synchronous=FULL`, so a commit survives a kill -9 and a power cut.
 *
 * Writes are queued and committed together (group commit) by a writer thread
 * (`store_writer.ts`), so the fsync never blocks the handler's event loop: while one batch is
 * being committed, the next one collects. {@linkcode HandlerStore.commit} resolves once
 * everything queued before it is on disk. Writes nobody waits for (a dispenser's ack, a final
 * ledger outcome) ride along with the next commit, or are committed on their own within
 * {@linkcode LAZY_COMMIT_MS}. Durability is never traded for speed: every commit is a full,
 * synchronous one. Reads (at start, and session ids) use a connection of their own.
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { setImmediate } from "node:timers";
import { createLogger, type Logger } from "../../lib/log.ts";
import { openDurableDatabase } from "../../lib/sqlite.ts";
import type { KnownSession } from "./conflicts.ts";
import { MachineRecord } from "./machine_record.ts";
import { DB_FILE, DDL, SCHEMA_VERSION, type WriteOp } from "./schema.ts";
import type { WriterReply, WriterRequest } from "./store_writer.ts";
import type { SessionChange, TimerOp } from "./transitions.ts";

/** Writes nobody waits for are committed at the latest this long after they were queued. */
export const LAZY_COMMIT_MS = 200;

/** The store could not be opened or a commit failed. */
export class StoreError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StoreError";
  }
}

/** A new ledger row. */
export interface LedgerInsert {
  received_at: number;
  machine_id: number | null;
  origin: string;
  action: string;
  correlation_id: string | null;
  idempotency_key: string | null;
  fingerprint: string | null;
  payload: unknown;
  /** `ok`, `duplicate`, an error code, or `pending` until the dispenser answered. */
  outcome: string;
  code?: string | null;
  reason?: string | null;
  rule?: string | null;
  forced?: boolean;
  duplicate?: boolean;
  session_id?: string | null;
  version?: number | null;
  /** The reply as sent (without correlation id), so a duplicate can repeat it exactly. */
  response?: unknown;
  replied_at?: number | null;
}

/** The final outcome of a `pending` ledger row. */
export interface LedgerSettle {
  outcome: string;
  code: string | null;
  reason: string | null;
  response: unknown;
  /** `JSON.stringify(response)` if the caller has it already. */
  response_json?: string;
  replied_at: number;
}

/** A ledger row as needed to rebuild duplicate suppression after a restart. */
export interface RecentCommand {
  received_at: number;
  idempotency_key: string | null;
  fingerprint: string | null;
  outcome: string;
  response: unknown;
}

export interface StoreStats {
  commits: number;
  /** Operations written (ledger rows, session writes, bay records, timer outbox). */
  writes: number;
  max_batch: number;
  last_commit_ms: number;
  failures: number;
}

/**
 * The outcome of a ledger row whose change was committed but whose dispenser answer was never
 * heard (the hub stopped in between). The change stands; a retry is answered as a duplicate.
 */
export const INTERRUPTED = "interrupted";

interface Batch {
  id: number;
  waiters: Array<PromiseWithResolvers<void>>;
  sessions: string[];
  size: number;
}

const json = (v: unknown) => v === undefined || v === null ? null : JSON.stringify(v);

export class HandlerStore {
  readonly path: string;
  readonly stats: StoreStats = {
    commits: 0,
    writes: 0,
    max_batch: 0,
    last_commit_ms: 0,
    failures: 0,
  };
  readonly #db: DatabaseSync;
  readonly #writer: Worker;
  readonly #log: Logger;
  #ops: WriteOp[] = [];
  #records = new Map<number, MachineRecord>();
  #sessionIds: string[] = [];
  #waiters: Array<PromiseWithResolvers<void>> = [];
  #inFlight: Batch | null = null;
  #batchSeq = 0;
  #scheduled = false;
  #lazy: ReturnType<typeof setTimeout> | null = null;
  #nextSeq: number;
  #nextOutbox: number;
  /** Sessions written but not yet committed, for {@linkcode knownSession}. */
  #unflushedSessions = new Map<string, KnownSession>();
  #failure: Error | null = null;
  #closing = false;
  #closed: PromiseWithResolvers<void> | null = null;

  private constructor(path: string, db: DatabaseSync, writer: Worker, log: Logger) {
    this.path = path;
    this.#db = db;
    this.#writer = writer;
    this.#log = log;
    const max = db.prepare("SELECT MAX(seq) AS m FROM ledger").get() as { m: number | null };
    this.#nextSeq = (max.m ?? 0) + 1;
    const out = db.prepare("SELECT MAX(seq) AS m FROM timer_outbox").get() as {
      m: number | null;
    };
    this.#nextOutbox = (out.m ?? 0) + 1;
    writer.onmessage = (ev: MessageEvent<WriterReply>) => this.#onWriter(ev.data);
    writer.onerror = (ev: ErrorEvent) => {
      ev.preventDefault();
      this.#fail(new StoreError(`The store's writer thread failed: ${ev.message}`));
    };
  }

  /** Opens (creating if needed) `machine_handler.db` in `dataDir` and starts its writer. */
  static async open(
    dataDir: string,
    log: Logger = createLogger("machine_handler/store"),
  ): Promise<HandlerStore> {
    const path = join(dataDir, DB_FILE);
    let db: DatabaseSync;
    try {
      db = openDurableDatabase(path);
      db.exec(DDL);
      const v = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as
        | { value: string }
        | undefined;
      if (v && Number(v.value) > SCHEMA_VERSION) {
        throw new StoreError(
          `${path} has schema version ${v.value}; this hub understands up to ${SCHEMA_VERSION}. ` +
            `Run a newer hub or restore a backup of the data directory.`,
        );
      }
      db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)").run(
        String(SCHEMA_VERSION),
      );
    } catch (err) {
      if (err instanceof StoreError) throw err;
      throw new StoreError(`Cannot open the machine handler's database ${path}: ${err}`, {
        cause: err,
      });
    }
    const writer = new Worker(new URL("./store_writer.ts", import.meta.url), {
      type: "module",
      name: "machine_handler-store",
    });
    const ready = await new Promise<WriterReply>((resolve) => {
      writer.onmessage = (ev: MessageEvent<WriterReply>) => resolve(ev.data);
      writer.onerror = (ev: ErrorEvent) => {
        ev.preventDefault();
        resolve({ type: "failed", id: null, message: ev.message });
      };
      writer.postMessage({ type: "open", path } satisfies WriterRequest);
    });
    if (ready.type !== "ready") {
      writer.terminate();
      db.close();
      throw new StoreError(
        `Cannot open the machine handler's database ${path} for writing: ${
          ready.type === "failed" ? ready.message : ready.type
        }`,
      );
    }
    return new HandlerStore(path, db, writer, log);
  }

  /** The last committed record of every bay; rows that no longer validate are logged and skipped. */
  loadRecords(): MachineRecord[] {
    const rows = this.#db.prepare("SELECT machine_id, record FROM machines").all() as Array<
      { machine_id: number; record: string }
    >;
    const out: MachineRecord[] = [];
    for (const row of rows) {
      let value: unknown;
      try {
        value = JSON.parse(row.record);
      } catch {
        value = null;
      }
      const parsed = MachineRecord.safeParse(value);
      if (parsed.success) out.push(parsed.data);
      else {this.#log.error("stored bay record is invalid; starting it fresh", {
          id: row.machine_id,
        });}
    }
    return out;
  }

  /**
   * Ledger rows still `pending`: the hub stopped after committing their change but before the
   * dispenser answered. The change is in the committed state; settle them as `interrupted`.
   */
  pendingLedger(): Array<{ seq: number; machine_id: number; action: string; forced: boolean }> {
    const rows = this.#db.prepare(
      "SELECT seq, machine_id, action, forced FROM ledger WHERE outcome = 'pending' ORDER BY seq",
    ).all() as Array<{ seq: number; machine_id: number; action: string; forced: number }>;
    return rows.map((r) => ({ ...r, forced: r.forced === 1 }));
  }

  /** Commands received since `since` that carry a key or fingerprint, oldest first. */
  recentCommands(since: number): RecentCommand[] {
    const rows = this.#db.prepare(
      `SELECT received_at, idempotency_key, fingerprint, outcome, response FROM ledger
       WHERE received_at >= ? AND duplicate = 0 AND response IS NOT NULL
         AND (idempotency_key IS NOT NULL OR fingerprint IS NOT NULL)
       ORDER BY seq`,
    ).all(since) as Array<Omit<RecentCommand, "response"> & { response: string }>;
    return rows.map((r) => ({ ...r, response: JSON.parse(r.response) }));
  }

  /** `timer/set` operations never answered, in the order they were made. */
  pendingTimerOps(): Array<{ machine_id: number; correlation_id: string; op: TimerOp }> {
    const rows = this.#db.prepare(
      `SELECT correlation_id, machine_id, session_id, op, duration_ms, add_ms FROM timer_outbox
       ORDER BY seq`,
    ).all() as Array<{
      correlation_id: string;
      machine_id: number;
      session_id: string;
      op: TimerOp["op"];
      duration_ms: number | null;
      add_ms: number | null;
    }>;
    return rows.map((r) => ({
      machine_id: r.machine_id,
      correlation_id: r.correlation_id,
      op: {
        session_id: r.session_id,
        op: r.op,
        ...(r.duration_ms !== null ? { duration_ms: r.duration_ms } : {}),
        ...(r.add_ms !== null ? { add_ms: r.add_ms } : {}),
      },
    }));
  }

  /** What is known of a session id: which bay it ran on and whether it ended. */
  knownSession(sessionId: string): KnownSession | null {
    const pending = this.#unflushedSessions.get(sessionId);
    if (pending) return pending;
    const row = this.#db.prepare("SELECT machine_id, ended_at FROM sessions WHERE session_id = ?")
      .get(sessionId) as KnownSession | undefined;
    return row ? { machine_id: row.machine_id, ended_at: row.ended_at } : null;
  }

  /** Queues the bay's record (the latest put per bay in a batch is written). */
  putRecord(r: MachineRecord): void {
    this.#records.set(r.machine_id, r);
    this.#scheduleLazy();
  }

  /** Queues a ledger row; returns its sequence number. */
  appendLedger(e: LedgerInsert): number {
    const seq = this.#nextSeq++;
    this.#push({
      t: "ledger",
      args: [
        seq,
        e.received_at,
        e.machine_id,
        e.origin,
        e.action,
        e.correlation_id,
        e.idempotency_key,
        e.fingerprint,
        JSON.stringify(e.payload ?? null),
        e.outcome,
        e.code ?? null,
        e.reason ?? null,
        e.rule ?? null,
        e.forced ? 1 : 0,
        e.duplicate ? 1 : 0,
        e.session_id ?? null,
        e.version ?? null,
        json(e.response),
        e.replied_at ?? null,
      ],
    });
    return seq;
  }

  /** Queues the final outcome of a `pending` ledger row. */
  settleLedger(seq: number, s: LedgerSettle): void {
    this.#push({
      t: "settle",
      args: [
        s.outcome,
        s.code,
        s.reason,
        s.response_json ?? JSON.stringify(s.response),
        s.replied_at,
        seq,
      ],
    });
  }

  /** Queues a session record write. */
  writeSession(c: SessionChange): void {
    const s = c.session;
    switch (c.kind) {
      case "start":
        this.#unflushedSessions.set(s.session_id, { machine_id: c.machine_id, ended_at: null });
        this.#sessionIds.push(s.session_id);
        this.#push({
          t: "session_start",
          args: [
            s.session_id,
            c.machine_id,
            s.origin,
            s.started_at,
            s.paid_s,
            s.amount_cents,
            s.group_id,
          ],
        });
        break;
      case "update":
        this.#push({ t: "session_update", args: [s.paid_s, s.amount_cents, s.session_id] });
        break;
      case "end":
        this.#unflushedSessions.set(s.session_id, {
          machine_id: c.machine_id,
          ended_at: c.ended_at,
        });
        this.#sessionIds.push(s.session_id);
        this.#push({
          t: "session_end",
          args: [
            c.ended_at,
            c.used_s,
            s.paid_s,
            s.amount_cents,
            c.end_reason,
            c.ended_by,
            s.session_id,
          ],
        });
        break;
    }
  }

  /** Queues a `timer/set` for the outbox (write it with the change that causes it). */
  addTimerOp(machineId: number, op: TimerOp, correlationId: string, at: number): void {
    this.#push({
      t: "timer_add",
      args: [
        correlationId,
        this.#nextOutbox++,
        machineId,
        op.session_id,
        op.op,
        op.duration_ms ?? null,
        op.add_ms ?? null,
        at,
      ],
    });
  }

  /** Queues the removal of an outbox entry the timer answered. */
  ackTimerOp(correlationId: string): void {
    this.#push({ t: "timer_ack", args: [correlationId] });
  }

  /** Resolves once everything queued so far is committed; rejects if that commit failed. */
  commit(): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#ops.length === 0 && this.#records.size === 0) {
      // Nothing queued: done once the batch in flight (if any) is.
      if (!this.#inFlight) return Promise.resolve();
      const w = Promise.withResolvers<void>();
      this.#inFlight.waiters.push(w);
      return w.promise;
    }
    const w = Promise.withResolvers<void>();
    this.#waiters.push(w);
    this.#schedule();
    return w.promise;
  }

  /** True while no commit has failed. */
  get healthy(): boolean {
    return this.#failure === null && !this.#closing;
  }

  /** Commits what is queued, stops the writer and closes the database. */
  async close(): Promise<void> {
    if (this.#closing) return await this.#closed?.promise;
    this.#closing = true;
    this.#closed = Promise.withResolvers<void>();
    try {
      if (!this.#failure) {
        const last = Promise.withResolvers<void>();
        this.#waiters.push(last);
        this.#flush();
        await last.promise.catch(() => {});
      }
      const closed = new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 2_000);
        this.#writer.onmessage = (ev: MessageEvent<WriterReply>) => {
          if (ev.data.type === "closed") {
            clearTimeout(t);
            resolve();
          }
        };
      });
      this.#writer.postMessage({ type: "close" } satisfies WriterRequest);
      await closed;
    } finally {
      this.#writer.terminate();
      this.#db.close();
      this.#closed.resolve();
    }
  }

  #push(op: WriteOp): void {
    this.#ops.push(op);
    this.#scheduleLazy();
  }

  /** A commit as soon as possible (someone waits for it). */
  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#flush();
    });
  }

  /** A commit soon, unless one comes sooner anyway. */
  #scheduleLazy(): void {
    if (this.#lazy !== null || this.#closing) return;
    this.#lazy = setTimeout(() => {
      this.#lazy = null;
      this.#flush();
    }, LAZY_COMMIT_MS);
  }

  /** Sends what is queued to the writer, unless a batch is in flight (then it follows it). */
  #flush(): void {
    if (this.#inFlight) return;
    if (this.#lazy !== null) clearTimeout(this.#lazy);
    this.#lazy = null;
    const waiters = this.#waiters;
    this.#waiters = [];
    if (this.#failure) {
      for (const w of waiters) w.reject(this.#failure);
      return;
    }
    if (this.#ops.length === 0 && this.#records.size === 0) {
      for (const w of waiters) w.resolve();
      return;
    }
    const ops: WriteOp[] = [];
    for (const r of this.#records.values()) {
      ops.push({ t: "record", args: [r.machine_id, JSON.stringify(r), r.updated_at] });
    }
    for (const op of this.#ops) ops.push(op);
    this.#ops = [];
    this.#records = new Map();
    const batch: Batch = {
      id: ++this.#batchSeq,
      waiters,
      sessions: this.#sessionIds,
      size: ops.length,
    };
    this.#sessionIds = [];
    this.#inFlight = batch;
    this.#writer.postMessage({ type: "commit", id: batch.id, ops } satisfies WriterRequest);
  }

  #onWriter(m: WriterReply): void {
    const batch = this.#inFlight;
    if (m.type === "failed") {
      this.#fail(new StoreError(`Commit to ${this.path} failed: ${m.message}`));
      return;
    }
    if (m.type !== "done" || !batch || batch.id !== m.id) return;
    this.#inFlight = null;
    this.stats.commits++;
    this.stats.writes += batch.size;
    this.stats.max_batch = Math.max(this.stats.max_batch, batch.size);
    this.stats.last_commit_ms = m.ms;
    const queued = new Set(this.#sessionIds);
    for (const id of batch.sessions) if (!queued.has(id)) this.#unflushedSessions.delete(id);
    for (const w of batch.waiters) w.resolve();
    if (this.#waiters.length > 0) this.#flush();
    else if (this.#ops.length > 0 || this.#records.size > 0) this.#scheduleLazy();
  }

  #fail(err: StoreError): void {
    if (this.#failure) return;
    this.stats.failures++;
    this.#failure = err;
    this.#log.error("commit failed; the handler cannot record changes", { error: err.message });
    const batch = this.#inFlight;
    this.#inFlight = null;
    for (const w of [...(batch?.waiters ?? []), ...this.#waiters]) w.reject(err);
    this.#waiters = [];
  }
}
