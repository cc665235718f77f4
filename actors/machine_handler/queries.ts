/**
 * Read-only queries on the machine handler's ledger and session records, for the admin ledger
 * view and the usage/revenue CSV report. Opens the database read-only (WAL lets it read while
 * the handler writes); the file is opened lazily, on the first query.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { DB_FILE } from "./schema.ts";

/** The ledger cannot be read (the handler has not created it yet, or it is unreadable). */
export class LedgerUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LedgerUnavailableError";
  }
}

/** One command (or timer expiry, hold lapse, backstop end) as the handler recorded it. */
export interface LedgerEntry {
  seq: number;
  received_at: number;
  machine_id: number | null;
  origin: string;
  action: string;
  correlation_id: string | null;
  idempotency_key: string | null;
  payload: unknown;
  /** `ok`, `duplicate`, an error code, `pending` (dispenser not answered yet), `interrupted`. */
  outcome: string;
  code: string | null;
  reason: string | null;
  /** The precedence row that decided it (`docs/conflicts.md`). */
  rule: string | null;
  forced: boolean;
  duplicate: boolean;
  session_id: string | null;
  version: number | null;
  replied_at: number | null;
}

export interface LedgerQuery {
  machine_id?: number;
  origin?: string;
  action?: string;
  outcome?: string;
  /** Received at or after (ms since epoch). */
  from?: number;
  /** Received before (ms since epoch). */
  to?: number;
  /** Most rows, newest first (default 100, at most 10,000). */
  limit?: number;
}

export interface SessionRecord {
  session_id: string;
  machine_id: number;
  origin: string;
  started_at: number;
  ended_at: number | null;
  paid_s: number;
  /** Seconds of paid time used (set when the session ends). */
  used_s: number | null;
  amount_cents: number;
  group_id: string | null;
  end_reason: string | null;
  ended_by: string | null;
}

export interface SessionQuery {
  /** Started at or after. */
  from?: number;
  /** Started before. */
  to?: number;
}

/** Usage of one bay on one day (the day a session started, in the reader's time zone). */
export interface UsageRow {
  machine_id: number;
  /** `YYYY-MM-DD`. */
  day: string;
  sessions: number;
  /** Paid minutes. */
  minutes: number;
  /** Minutes of paid time used (sessions still running count what is paid). */
  used_minutes: number;
  amount_cents: number;
}

export interface LedgerReader {
  ledger(q?: LedgerQuery): LedgerEntry[];
  sessions(q?: SessionQuery): SessionRecord[];
  /** Sessions started in `[from, to)`, per bay and day, ordered by day then bay. */
  usageByBayAndDay(from: number, to: number): UsageRow[];
  close(): void;
}

export interface LedgerReaderOptions {
  /** IANA time zone for day boundaries (default: the system's). */
  timeZone?: string | null;
}

const MAX_LIMIT = 10_000;

/** A reader on `machine_handler.db` in `dataDir`. */
export function openLedgerReader(dataDir: string, options: LedgerReaderOptions = {}): LedgerReader {
  const path = join(dataDir, DB_FILE);
  let db: DatabaseSync | null = null;
  const dayOf = new Intl.DateTimeFormat("en-CA", {
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    timeZone: options.timeZone ?? undefined,
  });

  const open = (): DatabaseSync => {
    if (db) return db;
    try {
      Deno.statSync(path);
    } catch (err) {
      throw new LedgerUnavailableError(
        `No ledger at ${path} yet: the machine handler creates it when it first starts`,
        { cause: err },
      );
    }
    try {
      db = new DatabaseSync(path, { readOnly: true });
      db.exec("PRAGMA busy_timeout = 5000");
    } catch (err) {
      throw new LedgerUnavailableError(`Cannot open the ledger ${path}: ${err}`, { cause: err });
    }
    return db;
  };

  const range = (col: string, from?: number, to?: number) => {
    const where: string[] = [];
    const args: number[] = [];
    if (from !== undefined) {
      where.push(`${col} >= ?`);
      args.push(checkTime(from, "from"));
    }
    if (to !== undefined) {
      where.push(`${col} < ?`);
      args.push(checkTime(to, "to"));
    }
    return { where, args };
  };

  const sessions = (q: SessionQuery = {}): SessionRecord[] => {
    const { where, args } = range("started_at", q.from, q.to);
    const sql = `SELECT session_id, machine_id, origin, started_at, ended_at, paid_s, used_s,
        amount_cents, group_id, end_reason, ended_by FROM sessions
      ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY started_at, session_id`;
    return open().prepare(sql).all(...args) as unknown as SessionRecord[];
  };

  return {
    ledger(q: LedgerQuery = {}): LedgerEntry[] {
      const { where, args } = range("received_at", q.from, q.to);
      const params: Array<string | number> = [...args];
      if (q.machine_id !== undefined) {
        where.push("machine_id = ?");
        params.push(q.machine_id);
      }
      for (const col of ["origin", "action", "outcome"] as const) {
        const v = q[col];
        if (v !== undefined) {
          where.push(`${col} = ?`);
          params.push(v);
        }
      }
      const limit = q.limit ?? 100;
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
        throw new RangeError(`limit must be an integer 1..${MAX_LIMIT}, got ${limit}`);
      }
      const sql = `SELECT seq, received_at, machine_id, origin, action, correlation_id,
          idempotency_key, payload, outcome, code, reason, rule, forced, duplicate, session_id,
          version, replied_at FROM ledger
        ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq DESC LIMIT ?`;
      const rows = open().prepare(sql).all(...params, limit) as Array<
        Omit<LedgerEntry, "payload" | "forced" | "duplicate"> & {
          payload: string;
          forced: number;
          duplicate: number;
        }
      >;
      return rows.map((r) => ({
        ...r,
        payload: parsePayload(r.payload),
        forced: r.forced === 1,
        duplicate: r.duplicate === 1,
      }));
    },
    sessions,
    usageByBayAndDay(from: number, to: number): UsageRow[] {
      const out = new Map<string, UsageRow>();
      for (const s of sessions({ from, to })) {
        const day = dayOf.format(s.started_at);
        const key = `${day}\u0000${s.machine_id}`;
        let row = out.get(key);
        if (!row) {
          row = {
            machine_id: s.machine_id,
            day,
            sessions: 0,
            minutes: 0,
            used_minutes: 0,
            amount_cents: 0,
          };
          out.set(key, row);
        }
        row.sessions++;
        row.minutes += s.paid_s / 60;
        row.used_minutes += (s.used_s ?? s.paid_s) / 60;
        row.amount_cents += s.amount_cents;
      }
      return [...out.values()]
        .map((r) => ({
          ...r,
          minutes: Math.round(r.minutes * 10) / 10,
          used_minutes: Math.round(r.used_minutes * 10) / 10,
        }))
        .sort((a, b) => a.day < b.day ? -1 : a.day > b.day ? 1 : a.machine_id - b.machine_id);
    },
    close() {
      db?.close();
      db = null;
    },
  };
}

function checkTime(v: number, name: string): number {
  if (!Number.isInteger(v) || v < 0) {
    throw new RangeError(`${name} must be milliseconds since the epoch, got ${v}`);
  }
  return v;
}

function parsePayload(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
