/**
 * The timer's durable state: one SQLite file (`timer.db`, WAL, synchronous FULL) with a row per
 * session timer, the correlation ids of extends already applied, the last sign of life of the
 * process, and a pending downtime correction. Every method is synchronous; a write returns only
 * once it is on disk.
 *
 * @module
 */
import type { DatabaseSync, SQLInputValue } from "node:sqlite";
import { openDurableDatabase } from "../../lib/sqlite.ts";

export type TimerStatus = "running" | "paused" | "cancelled" | "expired";

/** One session's timer as stored. Times are a checkpoint: remaining at that instant. */
export interface TimerRow {
  session_id: string;
  machine_id: number;
  state: TimerStatus;
  /** Remaining milliseconds at the checkpoint. */
  remaining_ms: number;
  /** Milliseconds paid: the start duration plus every extension. */
  paid_ms: number;
  /** Boot the checkpoint was taken in (null: unknown, never compared). */
  ck_boot_id: string | null;
  /** Boot-monotonic milliseconds at the checkpoint. */
  ck_boot_ms: number;
  /** Wall-clock milliseconds at the checkpoint (informational). */
  ck_wall_ms: number;
  /** Warning thresholds (seconds) already sent or skipped. */
  warnings_done: number[];
  /** Correlation id of `timer/expired` (kept for every retry), once expired. */
  expiry_cid: string | null;
  /** Wall-clock estimate of when the time ran out, once expired. */
  expired_deadline: number | null;
  /** True once the handler answered `timer/expired`, or the expiry is no longer needed. */
  delivered: boolean;
  /** The downtime of the last reboot is still to be subtracted (wall clock not yet synced). */
  downtime_pending: boolean;
  created_wall: number;
  updated_wall: number;
}

/** The last sign of life of the process: written with every change and periodically. */
export interface AliveRow {
  boot_id: string | null;
  boot_ms: number;
  wall_ms: number;
  /** Whether the wall clock was trusted (synchronised or not known to be wrong) then. */
  wall_trusted: boolean;
}

/** A reboot's downtime that could not be measured yet because the wall clock was not synced. */
export interface PendingDowntime {
  /** Wall clock of the last sign of life before the reboot (trusted then). */
  alive_wall_ms: number;
  /** Boot and boot-monotonic time of the restart that found the wall clock unsynced. */
  restart_boot_id: string;
  restart_boot_ms: number;
}

/** The store could not be opened or written. */
export class TimerStoreError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TimerStoreError";
  }
}

const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS timers (
  session_id TEXT PRIMARY KEY,
  machine_id INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('running', 'paused', 'cancelled', 'expired')),
  remaining_ms REAL NOT NULL,
  paid_ms INTEGER NOT NULL,
  ck_boot_id TEXT,
  ck_boot_ms REAL NOT NULL,
  ck_wall_ms INTEGER NOT NULL,
  warnings_done TEXT NOT NULL DEFAULT '[]',
  expiry_cid TEXT,
  expired_deadline INTEGER,
  delivered INTEGER NOT NULL DEFAULT 0,
  downtime_pending INTEGER NOT NULL DEFAULT 0,
  created_wall INTEGER NOT NULL,
  updated_wall INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS timers_open ON timers (state, delivered);
CREATE TABLE IF NOT EXISTS extend_ids (
  correlation_id TEXT PRIMARY KEY,
  session_id TEXT NOT NULL,
  seen_wall INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS alive (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  boot_id TEXT,
  boot_ms REAL NOT NULL,
  wall_ms INTEGER NOT NULL,
  wall_trusted INTEGER NOT NULL
);
`;

type Raw = Record<string, SQLInputValue>;

function toRow(r: Raw): TimerRow {
  return {
    session_id: String(r.session_id),
    machine_id: Number(r.machine_id),
    state: String(r.state) as TimerStatus,
    remaining_ms: Number(r.remaining_ms),
    paid_ms: Number(r.paid_ms),
    ck_boot_id: r.ck_boot_id === null ? null : String(r.ck_boot_id),
    ck_boot_ms: Number(r.ck_boot_ms),
    ck_wall_ms: Number(r.ck_wall_ms),
    warnings_done: JSON.parse(String(r.warnings_done)) as number[],
    expiry_cid: r.expiry_cid === null ? null : String(r.expiry_cid),
    expired_deadline: r.expired_deadline === null ? null : Number(r.expired_deadline),
    delivered: Number(r.delivered) === 1,
    downtime_pending: Number(r.downtime_pending) === 1,
    created_wall: Number(r.created_wall),
    updated_wall: Number(r.updated_wall),
  };
}

export class TimerStore {
  readonly path: string;
  readonly #db: DatabaseSync;
  readonly #put;
  readonly #get;
  readonly #open;
  readonly #seen;
  readonly #addSeen;
  readonly #putAlive;
  readonly #getAlive;
  #depth = 0;

  private constructor(path: string, db: DatabaseSync) {
    this.path = path;
    this.#db = db;
    this.#put = db.prepare(
      // An upsert updates the row in place; INSERT OR REPLACE would delete and re-insert it.
      `INSERT INTO timers (session_id, machine_id, state, remaining_ms, paid_ms,
        ck_boot_id, ck_boot_ms, ck_wall_ms, warnings_done, expiry_cid, expired_deadline,
        delivered, downtime_pending, created_wall, updated_wall)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (session_id) DO UPDATE SET machine_id = excluded.machine_id,
        state = excluded.state, remaining_ms = excluded.remaining_ms, paid_ms = excluded.paid_ms,
        ck_boot_id = excluded.ck_boot_id, ck_boot_ms = excluded.ck_boot_ms,
        ck_wall_ms = excluded.ck_wall_ms, warnings_done = excluded.warnings_done,
        expiry_cid = excluded.expiry_cid, expired_deadline = excluded.expired_deadline,
        delivered = excluded.delivered, downtime_pending = excluded.downtime_pending,
        created_wall = excluded.created_wall, updated_wall = excluded.updated_wall`,
    );
    this.#get = db.prepare("SELECT * FROM timers WHERE session_id = ?");
    this.#open = db.prepare(
      "SELECT * FROM timers WHERE state IN ('running', 'paused') OR " +
        "(state = 'expired' AND delivered = 0) ORDER BY created_wall, session_id",
    );
    this.#seen = db.prepare("SELECT session_id FROM extend_ids WHERE correlation_id = ?");
    this.#addSeen = db.prepare(
      "INSERT OR IGNORE INTO extend_ids (correlation_id, session_id, seen_wall) VALUES (?, ?, ?)",
    );
    this.#putAlive = db.prepare(
      `INSERT OR REPLACE INTO alive (id, boot_id, boot_ms, wall_ms, wall_trusted)
       VALUES (1, ?, ?, ?, ?)`,
    );
    this.#getAlive = db.prepare("SELECT * FROM alive WHERE id = 1");
  }

  /** Opens (creating if needed) the store at `path`. */
  static open(path: string): TimerStore {
    let db: DatabaseSync | undefined;
    try {
      db = openDurableDatabase(path);
      db.exec(SCHEMA);
      const v = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get();
      if (!v) {
        db.prepare("INSERT INTO meta (key, value) VALUES ('schema_version', ?)").run(
          String(SCHEMA_VERSION),
        );
      } else if (Number(v.value) !== SCHEMA_VERSION) {
        throw new TimerStoreError(
          `${path} has timer schema version ${v.value}; this hub understands ${SCHEMA_VERSION}`,
        );
      }
      return new TimerStore(path, db);
    } catch (err) {
      db?.close();
      if (err instanceof TimerStoreError) throw err;
      throw new TimerStoreError(`Cannot open the timer store ${path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  /** Runs `fn` in one transaction (nested calls join the outer one). */
  transaction<T>(fn: () => T): T {
    if (this.#depth > 0) return fn();
    this.#db.exec("BEGIN IMMEDIATE");
    this.#depth++;
    try {
      const out = fn();
      this.#db.exec("COMMIT");
      return out;
    } catch (err) {
      this.#db.exec("ROLLBACK");
      throw err;
    } finally {
      this.#depth--;
    }
  }

  put(row: TimerRow): void {
    this.#put.run(
      row.session_id,
      row.machine_id,
      row.state,
      row.remaining_ms,
      row.paid_ms,
      row.ck_boot_id,
      row.ck_boot_ms,
      Math.round(row.ck_wall_ms),
      JSON.stringify(row.warnings_done),
      row.expiry_cid,
      row.expired_deadline === null ? null : Math.round(row.expired_deadline),
      row.delivered ? 1 : 0,
      row.downtime_pending ? 1 : 0,
      Math.round(row.created_wall),
      Math.round(row.updated_wall),
    );
  }

  get(sessionId: string): TimerRow | undefined {
    const r = this.#get.get(sessionId) as Raw | undefined;
    return r ? toRow(r) : undefined;
  }

  /** Timers that still need the process: running, paused, or expired but not yet delivered. */
  open(): TimerRow[] {
    return (this.#open.all() as Raw[]).map(toRow);
  }

  /** The session an extend with this correlation id was applied to, if it was. */
  extendSeen(correlationId: string): string | undefined {
    const r = this.#seen.get(correlationId) as Raw | undefined;
    return r ? String(r.session_id) : undefined;
  }

  recordExtend(correlationId: string, sessionId: string, wall: number): void {
    this.#addSeen.run(correlationId, sessionId, Math.round(wall));
  }

  putAlive(a: AliveRow): void {
    this.#putAlive.run(a.boot_id, a.boot_ms, Math.round(a.wall_ms), a.wall_trusted ? 1 : 0);
  }

  getAlive(): AliveRow | undefined {
    const r = this.#getAlive.get() as Raw | undefined;
    if (!r) return undefined;
    return {
      boot_id: r.boot_id === null ? null : String(r.boot_id),
      boot_ms: Number(r.boot_ms),
      wall_ms: Number(r.wall_ms),
      wall_trusted: Number(r.wall_trusted) === 1,
    };
  }

  getPendingDowntime(): PendingDowntime | undefined {
    const r = this.#db.prepare("SELECT value FROM meta WHERE key = 'pending_downtime'").get();
    return r ? JSON.parse(String(r.value)) as PendingDowntime : undefined;
  }

  setPendingDowntime(p: PendingDowntime | undefined): void {
    if (p) {
      this.#db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('pending_downtime', ?)")
        .run(JSON.stringify(p));
    } else {
      this.#db.prepare("DELETE FROM meta WHERE key = 'pending_downtime'").run();
    }
  }

  /**
   * Forgets finished timers last changed before `timersBefore` and extend ids seen before
   * `extendsBefore` (wall-clock ms). Returns how many rows went.
   */
  prune(timersBefore: number, extendsBefore: number): number {
    return this.transaction(() => {
      const a = this.#db.prepare(
        "DELETE FROM timers WHERE (state = 'cancelled' OR (state = 'expired' AND delivered = 1)) " +
          "AND updated_wall < ?",
      ).run(Math.round(timersBefore));
      const b = this.#db.prepare("DELETE FROM extend_ids WHERE seen_wall < ?").run(
        Math.round(extendsBefore),
      );
      return Number(a.changes) + Number(b.changes);
    });
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }
}
