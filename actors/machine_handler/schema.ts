/**
 * The machine handler's SQLite file: its name and tables. The handler writes it
 * (`store.ts`); the web reads it (`queries.ts`).
 *
 * - `machines`: the current record of every bay (JSON), one row per bay.
 * - `ledger`: append-only, one row per command received (and per timer expiry, hold lapse and
 *   backstop end), with origin, payload, outcome, reason, forced and duplicate flags and times.
 *   A command that changed a bay is inserted with outcome `pending` in the same transaction as
 *   the change; its final outcome (`ok` or an error code) is filled in once, afterwards.
 * - `sessions`: one row per session: bay, origin, start, end, paid and used seconds, amount.
 * - `timer_outbox`: `timer/set` operations not yet acknowledged by the timer, written with the
 *   change that caused them and removed when the timer answers; re-sent (same correlation id)
 *   after a restart, so no extension or pause is ever lost between the handler and the timer.
 *
 * @module
 */

/** File name of the database inside the data directory. */
export const DB_FILE = "machine_handler.db";

export const SCHEMA_VERSION = 1;

export const DDL = `
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS machines (
  machine_id INTEGER PRIMARY KEY,
  record TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger (
  seq INTEGER PRIMARY KEY,
  received_at INTEGER NOT NULL,
  machine_id INTEGER,
  origin TEXT NOT NULL,
  action TEXT NOT NULL,
  correlation_id TEXT,
  idempotency_key TEXT,
  fingerprint TEXT,
  payload TEXT NOT NULL,
  outcome TEXT NOT NULL,
  code TEXT,
  reason TEXT,
  rule TEXT,
  forced INTEGER NOT NULL DEFAULT 0,
  duplicate INTEGER NOT NULL DEFAULT 0,
  session_id TEXT,
  version INTEGER,
  response TEXT,
  replied_at INTEGER
);
CREATE INDEX IF NOT EXISTS ledger_received ON ledger (received_at);
CREATE INDEX IF NOT EXISTS ledger_machine ON ledger (machine_id, received_at);
CREATE TABLE IF NOT EXISTS sessions (
  session_id TEXT PRIMARY KEY,
  machine_id INTEGER NOT NULL,
  origin TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  ended_at INTEGER,
  paid_s INTEGER NOT NULL,
  used_s INTEGER,
  amount_cents INTEGER NOT NULL,
  group_id TEXT,
  end_reason TEXT,
  ended_by TEXT
);
CREATE INDEX IF NOT EXISTS sessions_started ON sessions (started_at);
CREATE TABLE IF NOT EXISTS timer_outbox (
  correlation_id TEXT PRIMARY KEY,
  seq INTEGER NOT NULL,
  machine_id INTEGER NOT NULL,
  session_id TEXT NOT NULL,
  op TEXT NOT NULL,
  duration_ms INTEGER,
  add_ms INTEGER,
  created_at INTEGER NOT NULL
);
`;

/** The statements of the writer thread, by operation. */
export const WRITE_SQL = {
  record: "INSERT INTO machines (machine_id, record, updated_at) VALUES (?, ?, ?) " +
    "ON CONFLICT (machine_id) DO UPDATE SET record = excluded.record, " +
    "updated_at = excluded.updated_at",
  ledger: `INSERT INTO ledger (seq, received_at, machine_id, origin, action, correlation_id,
      idempotency_key, fingerprint, payload, outcome, code, reason, rule, forced, duplicate,
      session_id, version, response, replied_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  settle: "UPDATE ledger SET outcome = ?, code = ?, reason = ?, response = ?, replied_at = ? " +
    "WHERE seq = ? AND outcome = 'pending'",
  session_start: `INSERT INTO sessions (session_id, machine_id, origin, started_at, paid_s,
      amount_cents, group_id) VALUES (?, ?, ?, ?, ?, ?, ?)`,
  session_update: "UPDATE sessions SET paid_s = ?, amount_cents = ? WHERE session_id = ?",
  session_end: `UPDATE sessions SET ended_at = ?, used_s = ?, paid_s = ?, amount_cents = ?,
      end_reason = ?, ended_by = ? WHERE session_id = ?`,
  timer_add: `INSERT OR IGNORE INTO timer_outbox (correlation_id, seq, machine_id, session_id,
      op, duration_ms, add_ms, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  timer_ack: "DELETE FROM timer_outbox WHERE correlation_id = ?",
} as const;

export type WriteKind = keyof typeof WRITE_SQL;
export type SqlValue = string | number | null;

/** One write, as data (it crosses to the writer thread). */
export interface WriteOp {
  t: WriteKind;
  args: SqlValue[];
}
