/**
 * A live countdown to a server timestamp (or of a paused session's kept time).
 *
 * @module
 */
import type { Session } from "../../../protocol/machine.ts";
import { formatCountdown, sessionRemainingMs, untilMs } from "../format.ts";
import type { ServerClock } from "../server_clock.ts";

export interface CountdownProps {
  clock: ServerClock;
  /** Counts down to this server time (never showing more than `maxMs`)... */
  until?: number;
  maxMs?: number;
  /** ...or shows this session's time left. */
  session?: Session | null;
  class?: string;
}

export function Countdown({ clock, until, maxMs, session, class: cls }: CountdownProps) {
  // Reading `tick` re-renders this every tick; the time itself is read fresh, so a late tick
  // (a busy or throttled page) never shows more time than is left.
  void clock.tick.value;
  const now = clock.now();
  const ms = session !== undefined
    ? sessionRemainingMs(session, now)
    : until !== undefined
    ? untilMs(until, now, maxMs)
    : null;
  if (ms === null) return null;
  return (
    <span class={cls ? `countdown ${cls}` : "countdown"} data-ms={Math.ceil(ms / 1000) * 1000}>
      {formatCountdown(ms)}
    </span>
  );
}
