/**
 * Admin authentication: one password from the config (PBKDF2 hash), server-side sessions kept
 * in web.db (only the SHA-256 of the session token is stored), a CSRF token bound to each
 * session, and a per-client limit on failed logins.
 *
 * @module
 */
import { type Clock, systemClock } from "../../lib/clock.ts";
import { randomToken, sha256Hex } from "../encoding.ts";
import type { AdminSessionRecord, WebStore } from "../store.ts";
import { FailureLimiter } from "./failure_limiter.ts";
import { timingSafeEqual, verifyPassword } from "./password.ts";

export const SESSION_COOKIE = "hub_admin";
export const CSRF_HEADER = "X-CSRF-Token";

export interface AdminAuthOptions {
  store: WebStore;
  passwordHash: string;
  sessionTtlMs: number;
  clock?: Clock;
  limiter?: FailureLimiter;
}

export type LoginResult =
  | { ok: true; token: string; csrf: string; expires_at: number }
  | { ok: false; reason: "wrong_password" | "locked_out"; retryAfterMs: number | null };

export class AdminAuth {
  readonly limiter: FailureLimiter;
  readonly #store: WebStore;
  readonly #hash: string;
  readonly #ttlMs: number;
  readonly #clock: Clock;

  constructor(options: AdminAuthOptions) {
    if (options.sessionTtlMs <= 0) throw new RangeError("sessionTtlMs must be positive");
    this.#store = options.store;
    this.#hash = options.passwordHash;
    this.#ttlMs = options.sessionTtlMs;
    this.#clock = options.clock ?? systemClock;
    this.limiter = options.limiter ?? new FailureLimiter({ clock: this.#clock });
  }

  /** Checks the password (unless the client is locked out) and opens a session. */
  async login(password: string, client: string): Promise<LoginResult> {
    const key = `login:${client}`;
    const gate = this.limiter.check(key);
    if (!gate.allowed) {
      return { ok: false, reason: "locked_out", retryAfterMs: gate.retryAfterMs };
    }
    if (!(await verifyPassword(password, this.#hash))) {
      const next = this.limiter.fail(key);
      return next.allowed
        ? { ok: false, reason: "wrong_password", retryAfterMs: null }
        : { ok: false, reason: "locked_out", retryAfterMs: next.retryAfterMs };
    }
    this.limiter.succeed(key);
    const now = this.#clock.now();
    this.#store.purgeAdminSessions(now);
    const token = randomToken(32);
    const csrf = randomToken(32);
    const expires_at = now + this.#ttlMs;
    this.#store.putAdminSession({
      id_hash: await sha256Hex(token),
      csrf,
      client,
      created_at: now,
      expires_at,
    });
    return { ok: true, token, csrf, expires_at };
  }

  /** The live session for a cookie token, or null. */
  async session(token: string | undefined): Promise<AdminSessionRecord | null> {
    if (!token || token.length > 256) return null;
    const s = this.#store.getAdminSession(await sha256Hex(token));
    if (!s) return null;
    if (s.expires_at <= this.#clock.now()) {
      this.#store.deleteAdminSession(s.id_hash);
      return null;
    }
    return s;
  }

  async logout(token: string): Promise<void> {
    this.#store.deleteAdminSession(await sha256Hex(token));
  }

  /** True when `header` carries the session's CSRF token (constant-time comparison). */
  csrfMatches(session: AdminSessionRecord, header: string | undefined): boolean {
    if (!header) return false;
    const enc = new TextEncoder();
    return timingSafeEqual(enc.encode(header), enc.encode(session.csrf));
  }
}
