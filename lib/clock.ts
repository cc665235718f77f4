/**
 * The one injectable clock. Every wall-clock read, monotonic read and timer in the hub goes
 * through a {@linkcode Clock}, so timing logic is tested with {@linkcode FakeClock} without
 * sleeping.
 *
 * @module
 */

export type TimerHandle = ReturnType<typeof setTimeout> | number;

export interface Clock {
  /** Wall-clock time, milliseconds since the epoch. Can jump (NTP sync, no RTC on a Pi). */
  now(): number;
  /** Monotonic milliseconds since an arbitrary origin; never jumps, only for durations. */
  monotonic(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, Math.max(0, ms)),
  clearTimeout: (handle) => clearTimeout(handle as number),
};

interface FakeTimer {
  at: number;
  seq: number;
  fn: () => void;
}

/**
 * A clock for tests: time moves only when told. {@linkcode FakeClock.advance} runs due timers in
 * order; {@linkcode FakeClock.jumpWall} moves the wall clock alone, as NTP does.
 */
export class FakeClock implements Clock {
  #mono: number;
  #wallOffset: number;
  #timers = new Map<number, FakeTimer>();
  #nextId = 1;
  #seq = 0;

  constructor(startWall = Date.UTC(2026, 11, 3, 12, 0, 0), startMono = 1_000) {
    this.#mono = startMono;
    this.#wallOffset = startWall - startMono;
  }

  now(): number {
    return Math.floor(this.#mono + this.#wallOffset);
  }

  monotonic(): number {
    return this.#mono;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#mono + Math.max(0, ms), seq: this.#seq++, fn });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle as number);
  }

  /** Number of pending timers. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Moves both clocks forward by `ms`, running every timer that falls due, in order. */
  advance(ms: number): void {
    if (ms < 0) throw new RangeError(`Cannot advance by a negative duration: ${ms}`);
    const target = this.#mono + ms;
    for (;;) {
      let next: [number, FakeTimer] | undefined;
      for (const entry of this.#timers) {
        if (entry[1].at > target) continue;
        if (
          !next || entry[1].at < next[1].at ||
          (entry[1].at === next[1].at && entry[1].seq < next[1].seq)
        ) next = entry;
      }
      if (!next) break;
      this.#timers.delete(next[0]);
      this.#mono = Math.max(this.#mono, next[1].at);
      next[1].fn();
    }
    this.#mono = target;
  }

  /** Jumps the wall clock by `ms` (either sign) without moving monotonic time. */
  jumpWall(ms: number): void {
    this.#wallOffset += ms;
  }
}
