/**
 * The kernel's view of time across process restarts: which boot this is, how long since it
 * began on a clock that never jumps, and whether the wall clock is known to be synchronised.
 *
 * A {@linkcode Clock}'s monotonic time starts anew with every process; a boot clock lets a restarted
 * process measure exactly how long it was down, as long as the machine did not reboot. A
 * Raspberry Pi has no real-time clock, so across a reboot only the wall clock is left, and it is
 * trustworthy only once NTP has synchronised it ({@linkcode BootClock.wallSynced}).
 *
 * @module
 */
import { type Clock, systemClock } from "./clock.ts";

export interface BootClock {
  /** Identity of the running boot (`/proc/sys/kernel/random/boot_id`); null where unknown. */
  bootId(): string | null;
  /**
   * Milliseconds since boot, never jumping, continuous across process restarts within one boot
   * (CLOCK_BOOTTIME as `/proc/uptime` shows it). Consistent with the paired clock's
   * `monotonic()`: both advance together.
   */
  sinceBootMs(): number;
  /**
   * Whether the wall clock is known to be synchronised: true once systemd-timesyncd has synced,
   * false while it has not, null where this cannot be told.
   */
  wallSynced(): boolean | null;
}

const BOOT_ID = "/proc/sys/kernel/random/boot_id";
const UPTIME = "/proc/uptime";
/** systemd-timesyncd creates this file on its first synchronisation after boot (/run is tmpfs). */
const TIMESYNC_FLAG = "/run/systemd/timesync/synchronized";
const TIMESYNC_DIR = "/run/systemd/timesync";

function readUptimeMs(): number | null {
  try {
    const first = Deno.readTextFileSync(UPTIME).split(" ")[0];
    const s = Number(first);
    return Number.isFinite(s) ? Math.round(s * 1000) : null;
  } catch {
    return null;
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** How many tick edges calibration measures (about 10 ms each). */
const CALIBRATION_EDGES = 8;

/**
 * Spins until `/proc/uptime`'s centisecond value changes (at most ~10 ms): that instant is
 * exactly a tick. Returns uptime minus the clock's monotonic time then, or null without /proc.
 */
function uptimeTickEdge(clock: Clock): number | null {
  const first = readUptimeMs();
  if (first === null) return null;
  const spinUntil = clock.monotonic() + 25;
  let at = first;
  let mono = clock.monotonic();
  while (mono < spinUntil) {
    const v = readUptimeMs();
    mono = clock.monotonic();
    if (v === null) return null;
    at = v;
    if (v !== first) break;
  }
  return at - mono;
}

/**
 * The real boot clock, paired with `clock` (default the system clock): `/proc/uptime` is read
 * at the instants its 10 ms tick changes (a few times, keeping the best), to find the offset between the clock's monotonic
 * time and time since boot: under a millisecond on an idle machine, within a tick on a loaded one. Where `/proc` is missing (not Linux),
 * the boot id is null, so nothing is ever measured across a restart with it.
 */
export function createSystemBootClock(clock: Clock = systemClock): BootClock {
  let bootId: string | null = null;
  try {
    bootId = Deno.readTextFileSync(BOOT_ID).trim() || null;
  } catch {
    bootId = null;
  }
  let offset = 0;
  if (readUptimeMs() === null) {
    bootId = null;
  } else {
    // Being descheduled between the tick and our reading can only make the offset look smaller,
    // so the largest of a few tick-edge measurements is the closest to the truth.
    offset = -Infinity;
    for (let i = 0; i < CALIBRATION_EDGES; i++) {
      const edge = uptimeTickEdge(clock);
      if (edge === null) break;
      offset = Math.max(offset, edge);
    }
    if (offset === -Infinity) bootId = null;
  }
  const timesyncd = exists(TIMESYNC_DIR);
  return {
    bootId: () => bootId,
    sinceBootMs: () => clock.monotonic() + offset,
    wallSynced: () => timesyncd ? exists(TIMESYNC_FLAG) : null,
  };
}

/**
 * A boot clock for tests, driven by a (fake) clock: `sinceBootMs()` is the clock's monotonic time
 * plus `bootOffsetMs`. Give a new instance with another id to simulate a reboot.
 */
export class FakeBootClock implements BootClock {
  #clock: Clock;
  #bootId: string | null;
  #offset: number;
  /** What {@linkcode wallSynced} answers; tests flip it to simulate NTP synchronising. */
  synced: boolean | null;

  constructor(
    clock: Clock,
    bootId: string | null = "boot-1",
    bootOffsetMs = 0,
    synced: boolean | null = true,
  ) {
    this.#clock = clock;
    this.#bootId = bootId;
    this.#offset = bootOffsetMs;
    this.synced = synced;
  }

  bootId(): string | null {
    return this.#bootId;
  }

  sinceBootMs(): number {
    return this.#clock.monotonic() + this.#offset;
  }

  wallSynced(): boolean | null {
    return this.synced;
  }
}
