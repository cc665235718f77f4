/**
 * Hub-level topics: availability (retained, last will) and alerts.
 *
 * @module
 */
import { z } from "zod";
import { EpochMs, MachineId } from "./common.ts";

/** `hub/availability` (retained): "online" birth on connect, "offline" as last will. */
export const HubAvailability = z.object({
  state: z.enum(["online", "offline"]),
  node: z.string(),
  since: EpochMs.optional(),
});
export type HubAvailability = z.infer<typeof HubAvailability>;

/** `hub/alerts`: something staff should look at. */
export const Alert = z.object({
  machine_id: MachineId.nullable(),
  kind: z.enum(["offline", "online", "ball_level", "fault", "unreachable", "actor"]),
  severity: z.enum(["info", "warning", "critical"]),
  message: z.string(),
  at: EpochMs,
});
export type Alert = z.infer<typeof Alert>;
