/**
 * Limits failed attempts (admin logins, counter codes) per key, e.g. per client address. After
 * `maxFailures` failures within `windowMs` the key is locked for `lockMs`; every further lockout
 * doubles the lock up to `maxLockMs`. A success clears the key. Time comes from the injectable
 * clock, so tests need no sleeping.
 *
 * @module
 */
import { type Clock, systemClock } from "../../lib/clock.ts";

export interface FailureLimiterOptions {
  clock?: Clock;
  maxFailures?: number;
  windowMs?: number;
  lockMs?: number;
  maxLockMs?: number;
  /** Keys tracked at most; the oldest are forgotten beyond this (memory bound). */
  maxKeys?: number;
}

interface Entry {
  failures: number;
  firstAt: number;
  lockedUntil: number;
  lockouts: number;
  lastAt: number;
}

export type LimitDecision = { allowed: true } | { allowed: false; retryAfterMs: number };

export class FailureLimiter {
  readonly #clock: Clock;
  readonly #maxFailures: number;
  readonly #windowMs: number;
  readonly #lockMs: number;
  readonly #maxLockMs: number;
  readonly #maxKeys: number;
  readonly #entries = new Map<string, Entry>();

  constructor(options: FailureLimiterOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#maxFailures = options.maxFailures ?? 5;
    this.#windowMs = options.windowMs ?? 15 * 60_000;
    this.#lockMs = options.lockMs ?? 30_000;
    this.#maxLockMs = options.maxLockMs ?? 15 * 60_000;
    this.#maxKeys = options.maxKeys ?? 10_000;
    if (this.#maxFailures < 1 || this.#lockMs <= 0 || this.#maxLockMs < this.#lockMs) {
      throw new RangeError("FailureLimiter needs maxFailures >= 1 and 0 < lockMs <= maxLockMs");
    }
  }

  /** Whether `key` may try now. */
  check(key: string): LimitDecision {
    const e = this.#entries.get(key);
    const now = this.#clock.monotonic();
    if (!e || e.lockedUntil <= now) return { allowed: true };
    return { allowed: false, retryAfterMs: Math.ceil(e.lockedUntil - now) };
  }

  /** Records a failure; returns the decision for the next attempt. */
  fail(key: string): LimitDecision {
    const now = this.#clock.monotonic();
    let e = this.#entries.get(key);
    if (e && e.lockedUntil <= now && now - e.lastAt > 2 * this.#maxLockMs) e = undefined;
    if (!e || (e.lockedUntil <= now && now - e.firstAt > this.#windowMs)) {
      // A quiet period forgets old failures; escalation is forgotten after a longer one.
      e = { failures: 0, firstAt: now, lockedUntil: 0, lockouts: e?.lockouts ?? 0, lastAt: now };
    }
    e.failures++;
    e.lastAt = now;
    if (e.failures >= this.#maxFailures) {
      const lock = Math.min(this.#maxLockMs, this.#lockMs * 2 ** e.lockouts);
      e.lockouts++;
      e.lockedUntil = now + lock;
      e.failures = 0;
      e.firstAt = now;
    }
    this.#entries.delete(key);
    this.#entries.set(key, e);
    this.#prune();
    return this.check(key);
  }

  /** Clears `key` after a success. */
  succeed(key: string): void {
    this.#entries.delete(key);
  }

  /** Number of keys currently locked (for metrics). */
  get locked(): number {
    const now = this.#clock.monotonic();
    let n = 0;
    for (const e of this.#entries.values()) if (e.lockedUntil > now) n++;
    return n;
  }

  #prune(): void {
    while (this.#entries.size > this.#maxKeys) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
  }
}
