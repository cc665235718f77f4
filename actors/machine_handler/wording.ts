/**
 * How the machine handler words things for people: clock times, durations and sessions, in
 * refusals ("Bay 12 is active until 14:35 for a kiosk session") and alerts.
 *
 * @module
 */
import type { Session } from "../../protocol/machine.ts";
import { remainingMs } from "./machine_record.ts";

const formatters = new Map<string, Intl.DateTimeFormat>();

/** `14:35` in `timeZone` (IANA name; undefined = the system's). */
export function clockTime(ms: number, timeZone?: string | null): string {
  const key = timeZone ?? "";
  let f = formatters.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat("en-GB", {
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
      timeZone: timeZone ?? undefined,
    });
    formatters.set(key, f);
  }
  return f.format(ms);
}

/** `23 min`, `1 h 5 min`, `40 s`. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const min = Math.round(s / 60);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  const rest = min % 60;
  return rest === 0 ? `${h} h` : `${h} h ${rest} min`;
}

/** `a kiosk session`, `an admin session`. */
export function sessionOf(origin: string): string {
  return `${/^[aeiou]/.test(origin) ? "an" : "a"} ${origin} session`;
}

/**
 * What a session is doing, completing "Bay 12 is ...":
 * `active until 14:35 for a kiosk session` or `paused with 23 min left in a kiosk session`.
 */
export function sessionStatus(s: Session, now: number, timeZone?: string | null): string {
  if (s.paid_until === null) {
    return `paused with ${duration(remainingMs(s, now))} left in ${sessionOf(s.origin)}`;
  }
  return `active until ${clockTime(s.paid_until, timeZone)} for ${sessionOf(s.origin)}`;
}
