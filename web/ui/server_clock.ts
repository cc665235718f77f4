/**
 * The server's wall clock as a page sees it. Countdowns are computed from the server's
 * timestamps (`session.paid_until`, `hold.expires_at`), so a kiosk whose own clock is wrong still
 * shows the right time left: every timestamp the server sends moves the offset, and `now()`
 * returns local time corrected by it. A `tick` signal changes a few times a second so components
 * that read it re-render their countdowns.
 *
 * @module
 */
import { signal } from "@preact/signals";

export interface ServerClockOptions {
  /** Local clock; injectable for tests. */
  localNow?: () => number;
  /** How often `tick` changes while started. */
  tickMs?: number;
}

export class ServerClock {
  /** Server time minus local time, milliseconds. */
  readonly offsetMs = signal(0);
  /** Server time at the last tick (milliseconds since the epoch); read it to re-render. */
  readonly tick = signal(0);
  /** Whether the offset has been taken from the server at least once. */
  readonly synced = signal(false);
  readonly #localNow: () => number;
  readonly #tickMs: number;
  #timer: ReturnType<typeof setInterval> | null = null;

  constructor(options: ServerClockOptions = {}) {
    this.#localNow = options.localNow ?? (() => Date.now());
    this.#tickMs = options.tickMs ?? 250;
    if (!(this.#tickMs > 0)) throw new RangeError(`tickMs must be positive, got ${this.#tickMs}`);
    this.tick.value = this.now();
  }

  /** Takes `serverNow` (a timestamp the server just sent) as the current server time. */
  sync(serverNow: number): void {
    if (!Number.isFinite(serverNow) || serverNow <= 0) return;
    this.offsetMs.value = serverNow - this.#localNow();
    this.synced.value = true;
    this.tick.value = this.now();
  }

  /** Server time now, milliseconds since the epoch. */
  now(): number {
    return this.#localNow() + this.offsetMs.peek();
  }

  /** Starts ticking. */
  start(): void {
    if (this.#timer !== null) return;
    this.#timer = setInterval(() => {
      this.tick.value = this.now();
    }, this.#tickMs);
  }

  stop(): void {
    if (this.#timer === null) return;
    clearInterval(this.#timer);
    this.#timer = null;
  }
}
