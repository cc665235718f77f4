/**
 * Duplicate suppression: the same command again is not applied twice; its reply repeats the
 * first outcome.
 *
 * - With an `idempotency_key`, the key alone identifies the command for `keyTtlMs` (default a
 *   day, rebuilt from the ledger after a restart). The same key with different content is a
 *   client error, reported as a conflict. Distinct keys are distinct commands, even with equal
 *   parameters (two paid extensions in a row).
 * - Without a key, the same origin, bay, action and parameters within `windowMs` of the first
 *   is a duplicate.
 *
 * A duplicate that arrives while the first is still being handled waits for its outcome.
 *
 * @module
 */
import type { MachineCommand } from "../../protocol/command.ts";
import type { ErrorBody } from "../../protocol/common.ts";

/** The reply body of a command, without correlation id and times. */
export type Outcome =
  | { status: "ok"; data: unknown }
  | { status: "error"; error: ErrorBody };

/** A canonical string of everything that makes a command what it is (origin included). */
export function fingerprint(c: MachineCommand): string {
  const { correlation_id: _c, sent_at: _s, idempotency_key: _k, ...rest } = c;
  return canonicalJson(rest);
}

/** JSON with object keys sorted, so equal values give equal strings. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v) ?? "null";
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  const o = v as Record<string, unknown>;
  return `{${
    Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) =>
      `${JSON.stringify(k)}:${canonicalJson(o[k])}`
    ).join(",")
  }}`;
}

interface Entry {
  at: number;
  fingerprint: string;
  outcome: Promise<Outcome>;
  settled: Outcome | null;
}

export type Check =
  | { kind: "new"; fingerprint: string; settle(o: Outcome): void; forget(): void }
  | { kind: "duplicate"; outcome: Promise<Outcome> }
  | { kind: "key_reused"; key: string };

export interface DuplicateFilterOptions {
  windowMs: number;
  keyTtlMs: number;
  /** Most entries kept (oldest dropped first); bounds memory under extreme load. */
  maxEntries?: number;
}

export class DuplicateFilter {
  readonly #windowMs: number;
  readonly #keyTtlMs: number;
  readonly #max: number;
  /** Insertion order is time order, so expiry prunes from the front. */
  #byKey = new Map<string, Entry>();
  #byPrint = new Map<string, Entry>();

  constructor(o: DuplicateFilterOptions) {
    if (!(o.windowMs >= 0) || !(o.keyTtlMs >= 0)) {
      throw new RangeError(`windowMs and keyTtlMs must be >= 0, got ${o.windowMs}, ${o.keyTtlMs}`);
    }
    this.#windowMs = o.windowMs;
    this.#keyTtlMs = o.keyTtlMs;
    this.#max = o.maxEntries ?? 50_000;
  }

  get size(): number {
    return this.#byKey.size + this.#byPrint.size;
  }

  /** Looks the command up at `now`; a new one is registered until `forget()`. */
  check(c: MachineCommand, now: number): Check {
    this.#prune(now);
    const print = fingerprint(c);
    const key = c.idempotency_key;
    const map = key !== undefined ? this.#byKey : this.#byPrint;
    const id = key !== undefined ? key : print;
    const found = map.get(id);
    if (found) {
      if (found.fingerprint !== print) return { kind: "key_reused", key: key! };
      return { kind: "duplicate", outcome: found.outcome };
    }
    const p = Promise.withResolvers<Outcome>();
    const entry: Entry = { at: now, fingerprint: print, outcome: p.promise, settled: null };
    map.set(id, entry);
    if (map.size > this.#max) map.delete(map.keys().next().value!);
    return {
      kind: "new",
      fingerprint: print,
      settle: (o) => {
        entry.settled = o;
        p.resolve(o);
      },
      forget: () => {
        if (map.get(id) === entry) map.delete(id);
        p.reject(new Error("the first command failed; it was not recorded"));
        p.promise.catch(() => {});
      },
    };
  }

  /** Re-registers a command whose outcome is known (rebuilt from the ledger after a restart). */
  seed(
    c: { idempotency_key: string | null; fingerprint: string },
    at: number,
    outcome: Outcome,
  ): void {
    const entry: Entry = {
      at,
      fingerprint: c.fingerprint,
      outcome: Promise.resolve(outcome),
      settled: outcome,
    };
    if (c.idempotency_key !== null) this.#byKey.set(c.idempotency_key, entry);
    else this.#byPrint.set(c.fingerprint, entry);
  }

  #prune(now: number): void {
    for (
      const [map, ttl] of [[this.#byKey, this.#keyTtlMs], [this.#byPrint, this.#windowMs]] as const
    ) {
      for (const [id, e] of map) {
        if (now - e.at < ttl) break;
        // Still being handled: keep it, a duplicate must wait for its outcome.
        if (e.settled === null) break;
        map.delete(id);
      }
    }
  }
}
