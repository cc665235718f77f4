/**
 * In-thread harness for the timer service: a fake clock and boot clock standing for one process
 * on one machine, a store in a temporary directory, and a scripted handler that records every
 * `timer/expired` attempt and every `timer/warning`.
 *
 * @module
 */
import { join } from "node:path";
import { FakeBootClock } from "../../lib/boot_clock.ts";
import { FakeClock } from "../../lib/clock.ts";
import type { ResponseOf } from "../../protocol/common.ts";
import type { TimerExpiredResult, TimerSet, TimerWarning } from "../../protocol/timer.ts";
import { type ExpiryRequest, TimerService } from "../../actors/timer/timer_service.ts";
import { TimerStore } from "../../actors/timer/store.ts";

import { silentLogger as quiet } from "../../lib/log.ts";
export { quiet };

export interface Attempt {
  request: ExpiryRequest;
  correlationId: string;
  /** Wall and monotonic time of the attempt on the process clock. */
  wall: number;
  mono: number;
}

/** How the scripted handler answers one attempt: a reply, or a thrown error (no reply). */
export type Answer = ResponseOf<TimerExpiredResult> | Error;

/** One hub process: clock, boot clock, store and service. */
export class Proc {
  readonly clock: FakeClock;
  readonly boot: FakeBootClock;
  readonly store: TimerStore;
  readonly service: TimerService;
  readonly attempts: Attempt[] = [];
  readonly warnings: TimerWarning[] = [];
  /** Decides each answer; default: ok, ended. */
  answer: (a: Attempt) => Answer = (a) => ({
    correlation_id: a.correlationId,
    status: "ok",
    data: { machine_id: a.request.machine_id, session_id: a.request.session_id, ended: true },
  });

  constructor(
    readonly dir: string,
    clock: FakeClock,
    boot: FakeBootClock,
    readonly warningsS: number[] = [300, 60],
  ) {
    this.clock = clock;
    this.boot = boot;
    this.store = TimerStore.open(join(dir, "timer.db"));
    this.service = new TimerService({
      store: this.store,
      clock,
      bootClock: boot,
      warningsS,
      logger: quiet,
      retryMinMs: 100,
      retryMaxMs: 1_000,
      deliverExpiry: (request, { correlationId }) => {
        const a = { request, correlationId, wall: clock.now(), mono: clock.monotonic() };
        this.attempts.push(a);
        const ans = this.answer(a);
        return ans instanceof Error ? Promise.reject(ans) : Promise.resolve(ans);
      },
      publishWarning: (w) => {
        this.warnings.push(w);
      },
    });
  }

  /** A fresh process on a fresh machine (boot "boot-1", 1 h after boot). */
  static async create(warningsS?: number[]): Promise<Proc> {
    const dir = await Deno.makeTempDir({ prefix: "timer-test-" });
    const clock = new FakeClock();
    const p = new Proc(dir, clock, new FakeBootClock(clock, "boot-1", 3_600_000), warningsS);
    p.service.start();
    return p;
  }

  /**
   * The next process after this one died (kill -9: nothing more is written) and `downtimeMs`
   * passed. `reboot` gives a new boot id; `wallErrorMs` is how wrong the new wall clock is
   * (negative: behind, as after fake-hwclock); `synced` what the boot clock says about NTP.
   */
  next(
    opts: { downtimeMs: number; reboot?: boolean; wallErrorMs?: number; synced?: boolean | null },
  ): Proc {
    const trueWall = this.clock.now() + opts.downtimeMs;
    const clock = new FakeClock(trueWall + (opts.wallErrorMs ?? 0), 1_000);
    const bootMs = opts.reboot ? 25_000 : this.boot.sinceBootMs() + opts.downtimeMs;
    const bootId = opts.reboot ? `${this.boot.bootId()}+r` : this.boot.bootId();
    const boot = new FakeBootClock(
      clock,
      bootId,
      bootMs - 1_000,
      opts.synced === undefined ? true : opts.synced,
    );
    const p = new Proc(this.dir, clock, boot, this.warningsS);
    p.answer = this.answer;
    return p;
  }

  /** Simulates the process being killed: its timers stop; nothing more is written. */
  kill(): void {
    // The old clock is never advanced again, so none of its timers run; the store is closed
    // without a final write, as after kill -9.
    this.store.close();
  }

  set(body: Omit<TimerSet, "correlation_id" | "origin" | "sent_at"> & { correlation_id?: string }) {
    return this.service.set({
      origin: "machine_handler",
      sent_at: this.clock.now(),
      correlation_id: body.correlation_id ?? crypto.randomUUID(),
      ...body,
    } as TimerSet);
  }

  /** Advances the clock and lets promise callbacks (deliveries) run. */
  async advance(ms: number): Promise<void> {
    this.clock.advance(ms);
    for (let i = 0; i < 5; i++) await Promise.resolve();
    this.clock.advance(0);
  }

  async dispose(): Promise<void> {
    this.service.stop();
    this.store.close();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

/** Counts the store's transactions. */
export function countTransactions(store: TimerStore): { n: number } {
  const count = { n: 0 };
  const original = store.transaction.bind(store);
  store.transaction = <T>(fn: () => T): T => {
    count.n++;
    return original(fn);
  };
  return count;
}

/** What another connection (a restarted process) reads from the file of `p`'s store. */
export function onDisk(p: Proc, sessionId: string) {
  const other = TimerStore.open(join(p.dir, "timer.db"));
  try {
    return other.get(sessionId);
  } finally {
    other.close();
  }
}
