/**
 * The timer node: `timer/set` and `timer/set_batch` (handler -> timer), `timer/expired` (timer ->
 * handler) and `timer/warning` events.
 *
 * @module
 */
import { z } from "zod";
import { CorrelationId, EpochMs, MachineId, RequestEnvelope, responseOf } from "./common.ts";
import { SessionId } from "./machine.ts";

/** The fields of one timer operation, shared by `timer/set` and the items of `timer/set_batch`. */
const TimerOpFields = z.object({
  machine_id: MachineId,
  session_id: SessionId,
  op: z.enum(["start", "extend", "pause", "resume", "cancel"]),
  duration_ms: z.number().int().positive().optional().describe("For start"),
  add_ms: z.number().int().positive().optional().describe("For extend"),
});

type OpRuleFields = Pick<z.infer<typeof TimerOpFields>, "op" | "duration_ms" | "add_ms">;

/** The rules across the fields of one operation: `start` needs `duration_ms`, `extend` `add_ms`. */
function withOpRules<S extends z.ZodType<OpRuleFields>>(schema: S): S {
  return schema.refine((t) => t.op !== "start" || t.duration_ms !== undefined, {
    message: "start needs duration_ms",
    path: ["duration_ms"],
  }).refine((t) => t.op !== "extend" || t.add_ms !== undefined, {
    message: "extend needs add_ms",
    path: ["add_ms"],
  });
}

/**
 * `timer/set`: arm, change or cancel the timer of one session.
 * - `start`: a new session of `duration_ms`.
 * - `extend`: add `add_ms` to the remaining time.
 * - `pause` / `resume`: stop and restart the countdown, keeping the remaining time.
 * - `cancel`: the session ended early; forget the timer.
 */
export const TimerSet = withOpRules(RequestEnvelope.extend(TimerOpFields.shape));
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

/**
 * One operation of a `timer/set_batch`: the fields of `timer/set`, with its own `correlation_id`
 * (which makes an `extend` idempotent, as the request's does for `timer/set`).
 */
export const TimerSetItem = withOpRules(TimerOpFields.extend({ correlation_id: CorrelationId }));
export type TimerSetItem = z.infer<typeof TimerSetItem>;

/**
 * `timer/set_batch`: several `timer/set` operations in one request, applied in order and committed
 * together; each is answered on its own, so one refused operation does not affect the others.
 */
export const TimerSetBatch = RequestEnvelope.extend({
  ops: z.array(TimerSetItem).min(1).max(1000),
});
export type TimerSetBatch = z.infer<typeof TimerSetBatch>;

/** The answer to one operation of a batch, correlated by the operation's `correlation_id`. */
export const TimerBatchItemResult = responseOf(TimerState);
export type TimerBatchItemResult = z.infer<typeof TimerBatchItemResult>;

/** `data` of the timer's reply to `timer/set_batch`: one result per operation, in their order. */
export const TimerBatchResult = z.object({
  results: z.array(TimerBatchItemResult),
});
export type TimerBatchResult = z.infer<typeof TimerBatchResult>;

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
