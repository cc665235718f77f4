/**
 * `machines/status/request` -> `machines/status/response`: any node asks for bay states.
 *
 * @module
 */
import { z } from "zod";
import { MachineId, RequestEnvelope } from "./common.ts";
import { MachineState } from "./machine.ts";

export const StatusRequest = RequestEnvelope.extend({
  machine_ids: z.array(MachineId).max(10_000).optional().describe("Omit for every machine"),
});
export type StatusRequest = z.infer<typeof StatusRequest>;

export const StatusData = z.object({ machines: z.array(MachineState) });
export type StatusData = z.infer<typeof StatusData>;
