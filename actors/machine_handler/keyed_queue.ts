/**
 * One queue per key: tasks with the same key run one at a time, in order; different keys run
 * independently. The machine handler uses a bay's id as the key.
 *
 * @module
 */
export class KeyedQueue<K> {
  readonly #tails = new Map<K, Promise<void>>();

  /** Keys with a task queued or running. */
  get busy(): number {
    return this.#tails.size;
  }

  /** Runs `fn` after every task queued before it under `key`. */
  run<T>(key: K, fn: () => Promise<T>): Promise<T> {
    const prev = this.#tails.get(key);
    const result = prev ? prev.then(fn) : fn();
    const tail = result.then(() => {}, () => {});
    this.#tails.set(key, tail);
    tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }

  /** Resolves when every task queued so far has finished. */
  async idle(): Promise<void> {
    while (this.#tails.size > 0) await Promise.all([...this.#tails.values()]);
  }
}
