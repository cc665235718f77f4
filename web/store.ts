/**
 * The web node's own durable data in `{data_dir}/web.db` (SQLite through `node:sqlite`, WAL,
 * synchronous FULL): settings (price list), kiosk checkouts (payments and their holds), webhook
 * deliveries seen (replay protection) and admin sessions. Bay state is never stored here: the
 * machine handler owns it.
 *
 * @module
 */
import type { DatabaseSync, SQLInputValue } from "node:sqlite";
import { openDurableDatabase } from "../lib/sqlite.ts";

/** web.db could not be opened or written. */
export class WebStoreError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "WebStoreError";
  }
}

/** Lifecycle of a kiosk checkout; see docs/http_api.md. */
export type CheckoutState =
  | "holding"
  | "pending"
  | "refused"
  | "paid"
  | "completed"
  | "cancelled"
  | "failed"
  | "expired"
  | "needs_refund"
  | "refunded";

export const checkoutStates: readonly CheckoutState[] = [
  "holding",
  "pending",
  "refused",
  "paid",
  "completed",
  "cancelled",
  "failed",
  "expired",
  "needs_refund",
  "refunded",
];

export interface CheckoutRecord {
  id: string;
  provider: string;
  /** What the external provider (or the customer) quotes back; unique. */
  reference: string;
  machine_id: number;
  price_id: string;
  label: string;
  duration_s: number;
  amount_cents: number;
  currency: string;
  hold_id: string;
  session_id: string;
  state: CheckoutState;
  message: string | null;
  created_at: number;
  expires_at: number;
  paid_at: number | null;
  /** Who confirmed the payment: staff name (counter) or provider payment id (external). */
  paid_by: string | null;
  updated_at: number;
  resolved_note: string | null;
}

export interface WebhookDelivery {
  source: string;
  event_id: string;
  type: string;
  status: number;
  body: unknown;
  received_at: number;
}

export interface AdminSessionRecord {
  id_hash: string;
  csrf: string;
  client: string;
  created_at: number;
  expires_at: number;
}

const schema = `
CREATE TABLE IF NOT EXISTS settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS checkouts (
  id TEXT PRIMARY KEY,
  provider TEXT NOT NULL,
  reference TEXT NOT NULL UNIQUE,
  machine_id INTEGER NOT NULL,
  price_id TEXT NOT NULL,
  label TEXT NOT NULL,
  duration_s INTEGER NOT NULL,
  amount_cents INTEGER NOT NULL,
  currency TEXT NOT NULL,
  hold_id TEXT NOT NULL,
  session_id TEXT NOT NULL,
  state TEXT NOT NULL,
  message TEXT,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  paid_at INTEGER,
  paid_by TEXT,
  updated_at INTEGER NOT NULL,
  resolved_note TEXT
);
CREATE INDEX IF NOT EXISTS checkouts_state ON checkouts(state, created_at);
CREATE TABLE IF NOT EXISTS webhook_events (
  source TEXT NOT NULL,
  event_id TEXT NOT NULL,
  type TEXT NOT NULL,
  status INTEGER NOT NULL,
  body TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  PRIMARY KEY (source, event_id)
);
CREATE TABLE IF NOT EXISTS admin_sessions (
  id_hash TEXT PRIMARY KEY,
  csrf TEXT NOT NULL,
  client TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
`;

type Row = Record<string, SQLInputValue>;

export class WebStore {
  readonly path: string;
  readonly #db: DatabaseSync;
  #closed = false;

  private constructor(path: string, db: DatabaseSync) {
    this.path = path;
    this.#db = db;
  }

  /** Opens (creating if needed) the store at `path` (`:memory:` for a throwaway store). */
  static open(path: string): WebStore {
    let db: DatabaseSync;
    try {
      db = openDurableDatabase(path);
      db.exec(schema);
    } catch (err) {
      throw new WebStoreError(`Cannot open ${path}: ${(err as Error).message}`, { cause: err });
    }
    return new WebStore(path, db);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }

  // -- settings -------------------------------------------------------------------------------

  getSetting(key: string): unknown {
    const row = this.#db.prepare("SELECT value FROM settings WHERE key = ?").get(key) as
      | { value: string }
      | undefined;
    return row ? JSON.parse(row.value) : undefined;
  }

  putSetting(key: string, value: unknown, now: number): void {
    this.#db.prepare(
      `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
       ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
    ).run(key, JSON.stringify(value), now);
  }

  // -- checkouts ------------------------------------------------------------------------------

  insertCheckout(c: CheckoutRecord): void {
    this.#db.prepare(
      `INSERT INTO checkouts (id, provider, reference, machine_id, price_id, label, duration_s,
         amount_cents, currency, hold_id, session_id, state, message, created_at, expires_at,
         paid_at, paid_by, updated_at, resolved_note)
       VALUES (:id, :provider, :reference, :machine_id, :price_id, :label, :duration_s,
         :amount_cents, :currency, :hold_id, :session_id, :state, :message, :created_at,
         :expires_at, :paid_at, :paid_by, :updated_at, :resolved_note)`,
    ).run(c as unknown as Row);
  }

  /** Updates the mutable fields of a checkout; returns the stored record. */
  updateCheckout(
    id: string,
    patch: Partial<
      Pick<
        CheckoutRecord,
        "state" | "message" | "paid_at" | "paid_by" | "resolved_note" | "expires_at"
      >
    >,
    now: number,
  ): CheckoutRecord {
    const current = this.getCheckout(id);
    if (!current) throw new WebStoreError(`No checkout ${id}`);
    const next: CheckoutRecord = { ...current, ...patch, updated_at: now };
    this.#db.prepare(
      `UPDATE checkouts SET state = :state, message = :message, paid_at = :paid_at,
         paid_by = :paid_by, updated_at = :updated_at, resolved_note = :resolved_note,
         expires_at = :expires_at
       WHERE id = :id`,
    ).run({
      id,
      state: next.state,
      message: next.message,
      paid_at: next.paid_at,
      paid_by: next.paid_by,
      updated_at: next.updated_at,
      resolved_note: next.resolved_note,
      expires_at: next.expires_at,
    });
    return next;
  }

  getCheckout(id: string): CheckoutRecord | null {
    const row = this.#db.prepare("SELECT * FROM checkouts WHERE id = ?").get(id);
    return row ? { ...row } as unknown as CheckoutRecord : null;
  }

  getCheckoutByReference(reference: string): CheckoutRecord | null {
    const row = this.#db.prepare("SELECT * FROM checkouts WHERE reference = ?").get(reference);
    return row ? { ...row } as unknown as CheckoutRecord : null;
  }

  /** Checkouts, newest first, optionally in some states. */
  listCheckouts(
    filter: { states?: CheckoutState[]; limit?: number } = {},
  ): CheckoutRecord[] {
    const limit = filter.limit ?? 100;
    const states = filter.states ?? [];
    const where = states.length ? `WHERE state IN (${states.map(() => "?").join(", ")})` : "";
    const rows = this.#db.prepare(
      `SELECT * FROM checkouts ${where} ORDER BY created_at DESC, id DESC LIMIT ?`,
    ).all(...states, limit);
    return rows.map((r) => ({ ...r }) as unknown as CheckoutRecord);
  }

  // -- webhook deliveries ---------------------------------------------------------------------

  getWebhookDelivery(source: string, eventId: string): WebhookDelivery | null {
    const row = this.#db.prepare(
      "SELECT * FROM webhook_events WHERE source = ? AND event_id = ?",
    ).get(source, eventId) as
      | { source: string; event_id: string; type: string; status: number; body: string }
        & { received_at: number }
      | undefined;
    return row ? { ...row, body: JSON.parse(row.body) } : null;
  }

  /** Records the first outcome of a delivery; a second record for the same id is ignored. */
  putWebhookDelivery(d: WebhookDelivery): void {
    this.#db.prepare(
      `INSERT OR IGNORE INTO webhook_events (source, event_id, type, status, body, received_at)
       VALUES (?, ?, ?, ?, ?, ?)`,
    ).run(d.source, d.event_id, d.type, d.status, JSON.stringify(d.body), d.received_at);
  }

  // -- admin sessions -------------------------------------------------------------------------

  putAdminSession(s: AdminSessionRecord): void {
    this.#db.prepare(
      `INSERT INTO admin_sessions (id_hash, csrf, client, created_at, expires_at)
       VALUES (?, ?, ?, ?, ?)`,
    ).run(s.id_hash, s.csrf, s.client, s.created_at, s.expires_at);
  }

  getAdminSession(idHash: string): AdminSessionRecord | null {
    const row = this.#db.prepare("SELECT * FROM admin_sessions WHERE id_hash = ?").get(idHash);
    return row ? { ...row } as unknown as AdminSessionRecord : null;
  }

  deleteAdminSession(idHash: string): void {
    this.#db.prepare("DELETE FROM admin_sessions WHERE id_hash = ?").run(idHash);
  }

  /** Drops sessions that expired before `now`; returns how many. */
  purgeAdminSessions(now: number): number {
    const r = this.#db.prepare("DELETE FROM admin_sessions WHERE expires_at <= ?").run(now);
    return Number(r.changes);
  }
}
