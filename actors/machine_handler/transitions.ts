/**
 * What an accepted command does to a bay's record: the next record (with a new desired version),
 * the session records to write and the timer operations to send. Pure; the decision whether a
 * command may apply at all is made before, in `conflicts.ts`.
 *
 * @module
 */
import type { MachineCommand } from "../../protocol/command.ts";
import type { Session } from "../../protocol/machine.ts";
import type { TimerSet } from "../../protocol/timer.ts";
import { liveHold, type MachineRecord, remainingMs } from "./machine_record.ts";

/** A write to the session records (the usage and revenue report reads them). */
export type SessionChange =
  | { kind: "start"; machine_id: number; session: Session }
  | { kind: "update"; machine_id: number; session: Session }
  | {
    kind: "end";
    machine_id: number;
    session: Session;
    ended_at: number;
    /** Seconds of paid time used (paid minus what was left). */
    used_s: number;
    end_reason: string;
    ended_by: string;
  };

/** One `timer/set` to send, without the envelope. */
export type TimerOp = Pick<TimerSet, "session_id" | "op" | "duration_ms" | "add_ms">;

export interface Transition {
  next: MachineRecord;
  sessions: SessionChange[];
  timer: TimerOp[];
}

/** Starts a transition: a copy with a lapsed hold dropped and the next desired version. */
function begin(r: MachineRecord, now: number): Transition {
  return {
    next: {
      ...r,
      hold: liveHold(r, now),
      desired_version: r.desired_version + 1,
      updated_at: now,
    },
    sessions: [],
    timer: [],
  };
}

function endSession(
  t: Transition,
  now: number,
  reason: string,
  by: string,
  cancelTimer = true,
): void {
  const s = t.next.session;
  if (!s) return;
  const left = remainingMs(s, now);
  t.sessions.push({
    kind: "end",
    machine_id: t.next.machine_id,
    session: s,
    ended_at: now,
    used_s: Math.max(0, Math.round((s.paid_s * 1000 - left) / 1000)),
    end_reason: reason,
    ended_by: by,
  });
  if (cancelTimer) t.timer.push({ session_id: s.session_id, op: "cancel" });
  t.next.session = null;
}

export interface TransitionOptions {
  /** Session id for an activate that brings none. */
  newSessionId: () => string;
  /** The command overrides a conflict (recorded in the end reason of a replaced session). */
  forced: boolean;
}

/** Applies an accepted command. */
export function applyCommand(
  r: MachineRecord,
  c: MachineCommand,
  now: number,
  o: TransitionOptions,
): Transition {
  const t = begin(r, now);
  const n = t.next;
  const forcedBy = `forced by ${c.origin}`;
  switch (c.action) {
    case "activate": {
      n.maintenance_reason = null;
      endSession(t, now, `replaced by a new session (${forcedBy})`, c.origin);
      n.hold = null;
      const session: Session = {
        session_id: c.session_id ?? o.newSessionId(),
        origin: c.origin,
        started_at: now,
        paid_s: c.duration_s,
        paid_until: now + c.duration_s * 1000,
        remaining_ms: null,
        amount_cents: c.amount_cents ?? 0,
        group_id: c.group_id ?? null,
      };
      n.session = session;
      t.sessions.push({ kind: "start", machine_id: n.machine_id, session });
      t.timer.push({
        session_id: session.session_id,
        op: "start",
        duration_ms: c.duration_s * 1000,
      });
      break;
    }
    case "deactivate":
      endSession(t, now, c.reason ?? `ended by ${c.origin}`, c.origin);
      break;
    case "extend": {
      const s = n.session!;
      const add = c.add_s * 1000;
      const session: Session = {
        ...s,
        paid_s: s.paid_s + c.add_s,
        paid_until: s.paid_until === null ? null : s.paid_until + add,
        remaining_ms: s.paid_until === null ? (s.remaining_ms ?? 0) + add : null,
        amount_cents: s.amount_cents + (c.amount_cents ?? 0),
      };
      n.session = session;
      t.sessions.push({ kind: "update", machine_id: n.machine_id, session });
      t.timer.push({ session_id: s.session_id, op: "extend", add_ms: add });
      break;
    }
    case "pause": {
      const s = n.session!;
      n.session = { ...s, paid_until: null, remaining_ms: remainingMs(s, now) };
      t.timer.push({ session_id: s.session_id, op: "pause" });
      break;
    }
    case "resume": {
      const s = n.session!;
      n.session = { ...s, paid_until: now + (s.remaining_ms ?? 0), remaining_ms: null };
      t.timer.push({ session_id: s.session_id, op: "resume" });
      break;
    }
    case "maintenance_on":
      endSession(t, now, `maintenance: ${c.reason} (${forcedBy})`, c.origin);
      n.hold = null;
      n.maintenance_reason = c.reason;
      break;
    case "maintenance_off":
      n.maintenance_reason = null;
      break;
    case "hold":
      n.maintenance_reason = null;
      endSession(t, now, `bay held for a payment (${forcedBy})`, c.origin);
      n.hold = { hold_id: c.hold_id, origin: c.origin, expires_at: now + c.hold_s * 1000 };
      break;
    case "release":
      n.hold = null;
      break;
  }
  return t;
}

/**
 * Ends the bay's session because its paid time is over: reported by the timer (whose timer is
 * then already finished, so it is not cancelled) or found by the handler's backstop.
 */
export function expireSession(
  r: MachineRecord,
  now: number,
  by: "timer" | "machine_handler",
): Transition {
  const t = begin(r, now);
  endSession(
    t,
    now,
    by === "timer" ? "paid time over" : "paid time over (ended by the handler's backstop)",
    by,
    by !== "timer",
  );
  return t;
}

/** Removes a lapsed payment hold. */
export function lapseHold(r: MachineRecord, now: number): Transition {
  const t = begin(r, now);
  t.next.hold = null;
  return t;
}
