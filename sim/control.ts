/**
 * The simulator's control topic, `sim/{id}/control`: lets tests and people steer a separately
 * running simulator (misbehave, go offline, come back, refill, reset). A test tool, not part of
 * the hub's contract in `protocol/`.
 *
 * @module
 */
import { z } from "zod";
import { MachineId } from "../protocol/common.ts";
import { TopicError } from "../protocol/topics.ts";

/** What a simulated dispenser can be told to do wrong; fields that are absent are unchanged. */
export const SimMisbehaviour = z.strictObject({
  drop_acks: z.boolean().optional().describe("Apply updates but never acknowledge them"),
  ack_delay_ms: z.number().int().min(0).max(600_000).optional().describe(
    "Delay every acknowledgment by this many ms (0 = no delay)",
  ),
  silent: z.boolean().optional().describe("Stay connected but send no heartbeats"),
  jam: z.boolean().optional().describe("Fault 'jam': stop dispensing until cleared"),
  empty: z.boolean().optional().describe("Report ball level 'empty' whatever the hopper holds"),
});
export type SimMisbehaviour = z.infer<typeof SimMisbehaviour>;

/** A one-off command for a simulated dispenser. */
export const SimCommand = z.strictObject({
  command: z.enum(["offline", "online", "refill", "reset"]).describe(
    "offline: drop the connection abruptly (last will fires); online: reconnect (birth); " +
      "refill: fill the hopper; reset: clear every misbehaviour",
  ),
});
export type SimCommand = z.infer<typeof SimCommand>;

/** Payload of `sim/{id}/control`: a misbehaviour to merge in, or a command. */
export const SimControl = z.union([SimCommand, SimMisbehaviour]);
export type SimControl = z.infer<typeof SimControl>;

/** `sim/{id}/control` for one dispenser. */
export function simControlTopic(id: number): string {
  if (!MachineId.safeParse(id).success) {
    throw new TopicError(`Invalid machine id in topic: ${id}`);
  }
  return `sim/${id}/control`;
}

/** Subscription filter for every dispenser's control topic. */
export const simControlFilter = "sim/+/control";

const controlTopic = /^sim\/([1-9][0-9]{0,4})\/control$/;

/** The machine id of a `sim/{id}/control` topic, or null for any other topic. */
export function parseSimControlTopic(topic: string): number | null {
  const m = controlTopic.exec(topic);
  return m ? Number(m[1]) : null;
}
