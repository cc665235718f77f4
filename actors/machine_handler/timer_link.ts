/**
 * The handler's link to the timer actor: a `timer/set` operation for every session start,
 * extend, pause, resume and end. Operations of one bay are sent in order; one that the timer does
 * not answer is retried (same correlation id, so an `extend` is never counted twice) until it is
 * acknowledged, and staff are alerted once. Commands do not wait for it: the operation is in the
 * handler's outbox, and the dispenser's own deadline holds meanwhile.
 *
 * The operations of one event-loop turn (of every bay) travel together as one `timer/set_batch`
 * request, answered per operation in one reply, which the timer commits in one transaction.
 *
 * @module
 */
import { setImmediate } from "node:timers";
import type { Clock, TimerHandle } from "../../lib/clock.ts";
import { RpcClosedError, RpcRemoteError, RpcTimeoutError } from "../../lib/errors.ts";
import type { Logger } from "../../lib/log.ts";
import type { RpcClient } from "../../lib/rpc_client.ts";
import type { ErrorCode } from "../../protocol/common.ts";
import type { TimerBatchItemResult, TimerSetItem, TimerState } from "../../protocol/timer.ts";
import type { TimerOp } from "./transitions.ts";

export interface TimerLinkOptions {
  rpc: RpcClient;
  clock: Clock;
  log: Logger;
  /** Timeout of one attempt (one batch request). */
  timeoutMs: number;
  /** The first attempt of an operation got no answer (it is being retried). */
  onUnanswered(machineId: number, op: TimerOp): void;
  /** An operation that had to be retried was finally acknowledged. */
  onRecovered(machineId: number, op: TimerOp, attempts: number): void;
  /** Longest pause between retries (default 10 s). */
  maxBackoffMs?: number;
  /** Most operations in one `timer/set_batch` request (default 256). */
  maxBatchOps?: number;
  /**
   * Most bytes of operations in one request (default 60 000): the timer refuses requests over
   * 64 KiB, so a batch is cut before it would get there.
   */
  maxBatchBytes?: number;
}

export interface TimerLinkStats {
  /** Attempts of single operations (each operation in a batch counts). */
  sent: number;
  retries: number;
  unanswered: number;
  refused: number;
  /** `timer/set_batch` requests sent. */
  batches: number;
}

/** The timer's answer, or `stopped` if the link stopped first. */
export type TimerAnswer =
  | { kind: "ok"; state: TimerState }
  | { kind: "refused"; message: string }
  | { kind: "stopped" };

/** The timer's reply to a batch did not answer one of its operations. */
export class TimerBatchReplyError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TimerBatchReplyError";
  }
}

/**
 * Codes of an error answer to a whole batch after which its operations are retried: the timer
 * could not commit (`internal`) or was not running (`unavailable`). Any other code refuses the
 * request as such: its operations are then sent one by one, and an operation refused alone is
 * refused.
 */
const RETRYABLE = new Set<ErrorCode>(["internal", "unavailable", "timeout"]);

const DEFAULT_MAX_BATCH_OPS = 256;
const DEFAULT_MAX_BATCH_BYTES = 60_000;

/** An operation waiting for the next batch. */
interface Queued {
  item: TimerSetItem;
  result: PromiseWithResolvers<TimerBatchItemResult>;
}

/**
 * An upper bound of the bytes one operation takes in a request, without serialising it: its
 * numbers, names and punctuation take at most 160 bytes, and a character of its two strings at
 * most 6 (a JSON escape such as `\u001f`).
 */
function opBytesBound(item: TimerSetItem): number {
  return 160 + 6 * (item.session_id.length + item.correlation_id.length);
}

export class TimerLink {
  readonly stats: TimerLinkStats = { sent: 0, retries: 0, unanswered: 0, refused: 0, batches: 0 };
  readonly #o: TimerLinkOptions;
  readonly #maxOps: number;
  readonly #maxBytes: number;
  readonly #chains = new Map<number, Promise<unknown>>();
  readonly #sleeps = new Set<{ timer: TimerHandle; wake: () => void }>();
  #queue: Queued[] = [];
  #queuedBytes = 0;
  #flushScheduled = false;
  #retrying = 0;
  #stopped = false;

  constructor(o: TimerLinkOptions) {
    if (!(o.timeoutMs > 0)) throw new RangeError(`timeoutMs must be > 0, got ${o.timeoutMs}`);
    this.#maxOps = o.maxBatchOps ?? DEFAULT_MAX_BATCH_OPS;
    this.#maxBytes = o.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;
    if (!Number.isInteger(this.#maxOps) || this.#maxOps < 1 || this.#maxOps > 1000) {
      throw new RangeError(`maxBatchOps must be a whole number in 1..1000, got ${this.#maxOps}`);
    }
    if (!(this.#maxBytes >= 1024)) {
      throw new RangeError(`maxBatchBytes must be at least 1024, got ${this.#maxBytes}`);
    }
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
    const queued = this.#queue;
    this.#queue = [];
    this.#queuedBytes = 0;
    for (const q of queued) q.result.reject(new RpcClosedError("The timer link is stopped"));
  }

  async #deliver(machineId: number, op: TimerOp, correlationId: string): Promise<TimerAnswer> {
    const { log, timeoutMs } = this.#o;
    let attempts = 0;
    let counted = false;
    let backoff = Math.min(500, timeoutMs);
    try {
      while (!this.#stopped) {
        attempts++;
        this.stats.sent++;
        let res: TimerBatchItemResult;
        try {
          res = await this.#enqueue({
            machine_id: machineId,
            ...op,
            correlation_id: correlationId,
          });
        } catch {
          // No answer (the batch timed out, could not be sent, or failed as a whole; logged
          // once per batch): retried, possibly in another batch.
          if (this.#stopped) break;
          if (!counted) {
            counted = true;
            this.stats.unanswered++;
            this.#retrying++;
            this.#o.onUnanswered(machineId, op);
          }
          this.stats.retries++;
          await this.#sleep(backoff);
          backoff = Math.min(this.#o.maxBackoffMs ?? 10_000, backoff * 2);
          continue;
        }
        if (res.status === "ok") {
          if (attempts > 1) this.#o.onRecovered(machineId, op, attempts);
          return { kind: "ok", state: res.data };
        }
        this.stats.refused++;
        log.warn("timer refused an operation", {
          id: machineId,
          session_id: op.session_id,
          op: op.op,
          code: res.error.code,
          error: res.error.message,
        });
        return { kind: "refused", message: res.error.message };
      }
      return { kind: "stopped" };
    } finally {
      if (counted) this.#retrying--;
    }
  }

  /**
   * Adds one operation to the batch being gathered; resolves with its result, rejects when the
   * batch got no usable answer. The batch goes out after this event-loop turn, or at once when
   * it is full.
   */
  #enqueue(item: TimerSetItem): Promise<TimerBatchItemResult> {
    if (this.#stopped) return Promise.reject(new RpcClosedError("The timer link is stopped"));
    const bytes = opBytesBound(item);
    if (this.#queue.length > 0 && this.#queuedBytes + bytes > this.#maxBytes) this.#flush();
    const q: Queued = { item, result: Promise.withResolvers() };
    this.#queue.push(q);
    this.#queuedBytes += bytes;
    if (this.#queue.length >= this.#maxOps) {
      this.#flush();
    } else if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => {
        this.#flushScheduled = false;
        this.#flush();
      });
    }
    return q.result.promise;
  }

  /** Sends the gathered operations as one `timer/set_batch`. */
  #flush(): void {
    const batch = this.#queue;
    if (batch.length === 0) return;
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#send(batch);
  }

  /** Sends `batch` as one request and hands each operation its result. */
  #send(batch: Queued[]): void {
    this.stats.batches++;
    let reply: Promise<{ results: TimerBatchItemResult[] }>;
    try {
      reply = this.#o.rpc.call(
        "timer/set_batch",
        { ops: batch.map((q) => q.item) },
        // Built here from the handler's own validated session records; a fresh correlation id.
        { timeoutMs: this.#o.timeoutMs, trusted: true },
      );
    } catch (err) {
      reply = Promise.reject(err);
    }
    reply.then(({ results }) => {
      if (results.length !== batch.length) {
        this.#o.log.error("the timer's reply to a batch has the wrong number of results", {
          ops: batch.length,
          results: results.length,
        });
      }
      batch.forEach((q, i) => {
        const r = results[i];
        if (r !== undefined && r.correlation_id === q.item.correlation_id) {
          q.result.resolve(r);
        } else {
          q.result.reject(
            new TimerBatchReplyError(
              `The timer's reply did not answer operation ${q.item.correlation_id} ` +
                `(result ${i}: ${r === undefined ? "missing" : r.correlation_id})`,
            ),
          );
        }
      });
    }, (err: unknown) => {
      if (err instanceof RpcRemoteError && !RETRYABLE.has(err.code)) {
        if (batch.length > 1 && !this.#stopped) {
          // Refused as a request (one malformed operation makes the whole request invalid):
          // each operation is sent alone, so only the culprit is refused.
          this.#o.log.warn("timer refused a batch; its operations are sent one by one", {
            ops: batch.length,
            code: err.code,
            error: err.message,
          });
          for (const q of batch) this.#send([q]);
          return;
        }
        for (const q of batch) {
          q.result.resolve({
            correlation_id: q.item.correlation_id,
            status: "error",
            error: { code: err.code, message: err.message },
          });
        }
        return;
      }
      if (!(err instanceof RpcTimeoutError) && !this.#stopped) {
        this.#o.log.warn("timer/set_batch got no answer; its operations are retried", {
          ops: batch.length,
          error: err,
        });
      }
      const cause = err instanceof Error ? err : new Error(String(err));
      for (const q of batch) q.result.reject(cause);
    });
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
