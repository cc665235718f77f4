/**
 * A dispenser's ball hopper: a fill percentage that drains while the dispenser runs and maps
 * to the {@linkcode BallLevel} a level sensor would report.
 *
 * @module
 */
import type { Clock } from "../lib/clock.ts";
import type { BallLevel } from "../protocol/machine.ts";

/** Default drain: percent of a full hopper used per minute of dispensing (full lasts 50 min). */
export const DEFAULT_DRAIN_PER_MINUTE = 2;

/** Lowest fill percentage of each level; below the last one (0) the hopper is `empty`. */
export const levelThresholds: ReadonlyArray<readonly [BallLevel, number]> = [
  ["full", 75],
  ["medium", 40],
  ["low", 15],
  ["urgent", Number.MIN_VALUE],
];

/** The level a sensor reports for a fill percentage. */
export function levelOf(fillPercent: number): BallLevel {
  for (const [level, min] of levelThresholds) if (fillPercent >= min) return level;
  return "empty";
}

export class Hopper {
  readonly #clock: Clock;
  readonly #ratePerMs: number;
  #fill: number;
  #running = false;
  #since = 0;

  /** `drainPerMinute`: percent of a full hopper used per minute of dispensing (0..100). */
  constructor(clock: Clock, drainPerMinute = DEFAULT_DRAIN_PER_MINUTE, fillPercent = 100) {
    if (!Number.isFinite(drainPerMinute) || drainPerMinute < 0 || drainPerMinute > 100) {
      throw new RangeError(
        `drainPerMinute must be a percentage of the hopper per minute, 0..100, got ${drainPerMinute}`,
      );
    }
    if (!Number.isFinite(fillPercent) || fillPercent < 0 || fillPercent > 100) {
      throw new RangeError(`fillPercent must be 0..100, got ${fillPercent}`);
    }
    this.#clock = clock;
    this.#ratePerMs = drainPerMinute / 60_000;
    this.#fill = fillPercent;
  }

  /** Fill percentage now, 0..100. */
  get fill(): number {
    this.#settle();
    return this.#fill;
  }

  get level(): BallLevel {
    return levelOf(this.fill);
  }

  /** Starts or stops draining (the dispenser motor turned on or off). */
  setRunning(running: boolean): void {
    this.#settle();
    this.#running = running;
  }

  /** Staff filled the hopper. */
  refill(): void {
    this.#settle();
    this.#fill = 100;
  }

  #settle(): void {
    const now = this.#clock.monotonic();
    if (this.#running) this.#fill = Math.max(0, this.#fill - (now - this.#since) * this.#ratePerMs);
    this.#since = now;
  }
}
