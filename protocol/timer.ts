/**
 * The timer node: `timer/set` (handler -> timer), `timer/expired` (timer -> handler) and
 * `timer/warning` events.
 *
 * @module
 */
import { z } from "zod";
import { EpochMs, MachineId, RequestEnvelope } from "./common.ts";
import { SessionId } from "./machine.ts";

/**
 * `timer/set`: arm, change or cancel the timer of one session.
 * - `start`: a new session of `duration_ms`.
 * - `extend`: add `add_ms` to the remaining time.
 * - `pause` / `resume`: stop and restart the countdown, keeping the remaining time.
 * - `cancel`: the session ended early; forget the timer.
 */
export const TimerSet = RequestEnvelope.extend({
  machine_id: MachineId,
  session_id: SessionId,
  op: z.enum(["start", "extend", "pause", "resume", "cancel"]),
  duration_ms: z.number().int().positive().optional().describe("For start"),
  add_ms: z.number().int().positive().optional().describe("For extend"),
}).refine((t) => t.op !== "start" || t.duration_ms !== undefined, {
  message: "start needs duration_ms",
  path: ["duration_ms"],
}).refine((t) => t.op !== "extend" || t.add_ms !== undefined, {
  message: "extend needs add_ms",
  path: ["add_ms"],
});
export type TimerSet = z.infer<typeof TimerSet>;

/** `data` of the timer's reply: the timer as it now stands. */
export const TimerState = z.object({
  machine_id: MachineId,
  session_id: SessionId,
  state: z.enum(["running", "paused", "cancelled", "expired"]),
  remaining_ms: z.number().int().nonnegative(),
  deadline: EpochMs.nullable().describe("Wall-clock estimate of the end while running"),
});
export type TimerState = z.infer<typeof TimerState>;

/** `timer/expired`: the paid time of a session is over; the handler ends it if still current. */
export const TimerExpired = RequestEnvelope.extend({
  machine_id: MachineId,
  session_id: SessionId,
  deadline: EpochMs,
});
export type TimerExpired = z.infer<typeof TimerExpired>;

export const TimerExpiredResult = z.object({
  machine_id: MachineId,
  session_id: SessionId,
  ended: z.boolean().describe("False when the session was no longer the current one"),
});
export type TimerExpiredResult = z.infer<typeof TimerExpiredResult>;

/** `timer/warning` event: a session is about to end. */
export const TimerWarning = z.object({
  machine_id: MachineId,
  session_id: SessionId,
  remaining_s: z.number().int().nonnegative(),
  deadline: EpochMs,
  sent_at: EpochMs,
});
export type TimerWarning = z.infer<typeof TimerWarning>;
