/**
 * Group commit for a synchronous store: callers stage their writes and wait; the writes staged
 * during one event-loop turn are committed together, in one transaction (one fsync), right after
 * the turn (`setImmediate`), and every caller is answered only after that commit. Under load many
 * requests share one fsync; alone, a request waits for nothing but its own commit.
 *
 * The machine handler's store does the same with a writer thread (`actors/machine_handler/
 * store.ts`); this is the in-thread form, for stores whose commit is synchronous.
 *
 * @module
 */
import { setImmediate } from "node:timers";

export class GroupCommit {
  readonly #commit: () => void;
  #waiters: Array<PromiseWithResolvers<void>> = [];
  #scheduled = false;
  #commits = 0;
  #maxBatch = 0;

  /**
   * `commit` writes everything staged so far in one transaction and throws if that failed (the
   * waiters of that batch are rejected with the error).
   */
  constructor(commit: () => void) {
    this.#commit = commit;
  }

  /** Commits done, and the most waiters one commit answered. */
  get stats(): { commits: number; max_batch: number } {
    return { commits: this.#commits, max_batch: this.#maxBatch };
  }

  /** Callers waiting for the next commit. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /** Resolves once a commit that includes everything staged before this call is done. */
  wait(): Promise<void> {
    const w = Promise.withResolvers<void>();
    this.#waiters.push(w);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        this.flush();
      });
    }
    return w.promise;
  }

  /** Commits now (e.g. before a write that must come after the staged ones, or at stop). */
  flush(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    try {
      this.#commit();
    } catch (err) {
      for (const w of waiters) w.reject(err);
      return;
    }
    if (waiters.length > 0) {
      this.#commits++;
      this.#maxBatch = Math.max(this.#maxBatch, waiters.length);
    }
    for (const w of waiters) w.resolve();
  }
}
