/**
 * Formatting for the pages: countdowns from server timestamps, durations and money.
 *
 * @module
 */
import type { Session } from "../../protocol/machine.ts";

/**
 * Milliseconds of paid time left in `session` at server time `serverNow`: counts down from
 * `paid_until` while running, is the kept `remaining_ms` while paused, null without a session.
 * Never more than was paid: the page's estimate of the server's time trails it by a few
 * milliseconds, which must not show "30:01" on a new 30-minute session.
 */
export function sessionRemainingMs(session: Session | null, serverNow: number): number | null {
  if (!session) return null;
  const paid = session.paid_s * 1000;
  if (session.paid_until !== null) return clamp(session.paid_until - serverNow, paid);
  if (session.remaining_ms !== null) return clamp(session.remaining_ms, paid);
  return null;
}

function clamp(ms: number, max: number): number {
  return Math.min(Math.max(0, ms), max);
}

/** Milliseconds until `deadline` (server time), never negative nor above `maxMs`. */
export function untilMs(deadline: number, serverNow: number, maxMs = Infinity): number {
  return clamp(deadline - serverNow, maxMs);
}

/**
 * A countdown as `m:ss`, or `h:mm:ss` from one hour. Seconds are rounded up, so the display
 * reaches `0:00` exactly when the time is over.
 */
export function formatCountdown(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) ms = 0;
  const total = Math.ceil(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** A duration in words: "45 min", "1 h", "1 h 30 min", "90 s". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) seconds = 0;
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const minutes = Math.round(seconds / 60);
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  if (h === 0) return `${m} min`;
  return m === 0 ? `${h} h` : `${h} h ${m} min`;
}

const moneyFormats = new Map<string, Intl.NumberFormat>();

/** An amount in cents as money, e.g. `€14.00` (falls back to "14.00 XYZ" for unknown codes). */
export function formatMoney(cents: number, currency: string, locale = "en-GB"): string {
  const key = `${locale}|${currency}`;
  let f = moneyFormats.get(key);
  if (!f) {
    try {
      f = new Intl.NumberFormat(locale, { style: "currency", currency });
    } catch {
      return `${(cents / 100).toFixed(2)} ${currency}`;
    }
    moneyFormats.set(key, f);
  }
  return f.format(cents / 100);
}

/** A timestamp as local `HH:MM:SS` (admin tables). */
export function formatClock(ms: number): string {
  const d = new Date(ms);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, "0"))
    .join(":");
}

/** A timestamp as local `YYYY-MM-DD HH:MM:SS`. */
export function formatDateTime(ms: number): string {
  const d = new Date(ms);
  const date = [d.getFullYear(), d.getMonth() + 1, d.getDate()].map((n) =>
    String(n).padStart(2, "0")
  ).join("-");
  return `${date} ${formatClock(ms)}`;
}

/** "just now", "12 s ago", "5 min ago", "3 h ago" (for last-seen times). */
export function formatAgo(thenMs: number, nowMs: number): string {
  const s = Math.max(0, Math.round((nowMs - thenMs) / 1000));
  if (s < 5) return "just now";
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ago`;
}
