/**
 * The handler's link to the timer actor: `timer/set` for every session start, extend, pause,
 * resume and end. Operations of one bay are sent in order; one that the timer does not answer
 * is retried (same correlation id, so an `extend` is never counted twice) until it is
 * acknowledged, and staff are alerted once. Commands do not wait for it: the operation is in the
 * handler's outbox, and the dispenser's own deadline holds meanwhile.
 *
 * @module
 */
import type { Clock, TimerHandle } from "../../lib/clock.ts";
import { RpcRemoteError, RpcTimeoutError } from "../../lib/errors.ts";
import type { Logger } from "../../lib/log.ts";
import type { RpcClient } from "../../lib/rpc_client.ts";
import type { TimerState } from "../../protocol/timer.ts";
import type { TimerOp } from "./transitions.ts";

export interface TimerLinkOptions {
  rpc: RpcClient;
  clock: Clock;
  log: Logger;
  /** Timeout of one attempt. */
  timeoutMs: number;
  /** The first attempt of an operation got no answer (it is being retried). */
  onUnanswered(machineId: number, op: TimerOp): void;
  /** An operation that had to be retried was finally acknowledged. */
  onRecovered(machineId: number, op: TimerOp, attempts: number): void;
  /** Longest pause between retries (default 10 s). */
  maxBackoffMs?: number;
}

export interface TimerLinkStats {
  sent: number;
  retries: number;
  unanswered: number;
  refused: number;
}

/** The timer's answer, or `stopped` if the link stopped first. */
export type TimerAnswer =
  | { kind: "ok"; state: TimerState }
  | { kind: "refused"; message: string }
  | { kind: "stopped" };

export class TimerLink {
  readonly stats: TimerLinkStats = { sent: 0, retries: 0, unanswered: 0, refused: 0 };
  readonly #o: TimerLinkOptions;
  readonly #chains = new Map<number, Promise<unknown>>();
  readonly #sleeps = new Set<{ timer: TimerHandle; wake: () => void }>();
  #retrying = 0;
  #stopped = false;

  constructor(o: TimerLinkOptions) {
    if (!(o.timeoutMs > 0)) throw new RangeError(`timeoutMs must be > 0, got ${o.timeoutMs}`);
    this.#o = o;
  }

  /** Operations not yet acknowledged by the timer (being retried). */
  get retrying(): number {
    return this.#retrying;
  }

  /**
   * Queues `op` for bay `machineId` (after the bay's earlier operations) and resolves with the
   * timer's answer, retrying with `correlationId` until there is one.
   */
  send(machineId: number, op: TimerOp, correlationId: string): Promise<TimerAnswer> {
    const prev = this.#chains.get(machineId) ?? Promise.resolve();
    const run = prev.then(() => this.#deliver(machineId, op, correlationId));
    const tail = run.then(() => {}, () => {});
    this.#chains.set(machineId, tail);
    tail.then(() => {
      if (this.#chains.get(machineId) === tail) this.#chains.delete(machineId);
    });
    return run.catch(() => ({ kind: "stopped" as const }));
  }

  /** Stops retrying; operations not yet acknowledged resolve as `stopped`. */
  stop(): void {
    this.#stopped = true;
    for (const s of this.#sleeps) {
      this.#o.clock.clearTimeout(s.timer);
      s.wake();
    }
    this.#sleeps.clear();
  }

  async #deliver(machineId: number, op: TimerOp, correlationId: string): Promise<TimerAnswer> {
    const { rpc, log, timeoutMs } = this.#o;
    let attempts = 0;
    let counted = false;
    let backoff = Math.min(500, timeoutMs);
    try {
      while (!this.#stopped) {
        attempts++;
        this.stats.sent++;
        try {
          const state = await rpc.call(
            "timer/set",
            { machine_id: machineId, ...op },
            // Built here from the handler's own validated session record.
            { timeoutMs, correlationId, trusted: true },
          );
          if (attempts > 1) this.#o.onRecovered(machineId, op, attempts);
          return { kind: "ok", state };
        } catch (err) {
          if (err instanceof RpcRemoteError) {
            this.stats.refused++;
            log.warn("timer refused an operation", {
              id: machineId,
              session_id: op.session_id,
              op: op.op,
              error: err.message,
            });
            return { kind: "refused", message: err.message };
          }
          if (!(err instanceof RpcTimeoutError)) {
            if (this.#stopped) break;
            log.warn("timer/set could not be sent; retrying", { id: machineId, error: err });
          }
          if (!counted) {
            counted = true;
            this.stats.unanswered++;
            this.#retrying++;
            this.#o.onUnanswered(machineId, op);
          }
          this.stats.retries++;
          await this.#sleep(backoff);
          backoff = Math.min(this.#o.maxBackoffMs ?? 10_000, backoff * 2);
        }
      }
      return { kind: "stopped" };
    } finally {
      if (counted) this.#retrying--;
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = {
        timer: 0 as TimerHandle,
        wake: () => resolve(),
      };
      entry.timer = this.#o.clock.setTimeout(() => {
        this.#sleeps.delete(entry);
        resolve();
      }, ms);
      this.#sleeps.add(entry);
    });
  }
}
