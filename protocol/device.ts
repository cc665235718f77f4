/**
 * The dispensers' side: what the hub sends to a dispenser and what a dispenser reports.
 *
 * @module
 */
import { z } from "zod";
import { CorrelationId, EpochMs, ErrorBody, NodeId } from "./common.ts";
import { BallLevel, MachineStatus, SessionId } from "./machine.ts";

/**
 * `machines/{id}/update` (hub -> dispenser, QoS 1, never retained): the desired state.
 * The dispenser dispenses exactly when `dispense` is true and `deadline` has not passed.
 */
export const DeviceUpdate = z.object({
  correlation_id: CorrelationId,
  origin: NodeId,
  sent_at: EpochMs,
  version: z.number().int().positive().describe("Increases with every change; ack it"),
  status: MachineStatus,
  dispense: z.boolean().describe("Whether the dispenser should be on"),
  session_id: SessionId.nullable(),
  deadline: EpochMs.nullable().describe("Hub wall-clock time the session ends (while dispensing)"),
  remaining_s: z.number().int().nonnegative().nullable().describe(
    "Seconds left at sent_at; count down locally and switch off at 0 even without the hub",
  ),
});
export type DeviceUpdate = z.infer<typeof DeviceUpdate>;

/** `machines/{id}/response` (dispenser -> hub): acknowledges one update version. */
export const DeviceAck = z.discriminatedUnion("status", [
  z.object({
    correlation_id: CorrelationId,
    status: z.literal("ok"),
    data: z.object({
      version: z.number().int().positive(),
      dispensing: z.boolean(),
    }),
  }),
  z.object({
    correlation_id: CorrelationId,
    status: z.literal("error"),
    data: z.object({ version: z.number().int().positive() }),
    error: ErrorBody.extend({ code: z.string() }),
  }),
]);
export type DeviceAck = z.infer<typeof DeviceAck>;

/** `machines/{id}/availability` (retained): birth message and last will of a dispenser. */
export const DeviceAvailability = z.object({
  state: z.enum(["online", "offline"]),
  keepalive_s: z.number().int().positive().max(3600).optional().describe(
    "Heartbeat interval; silent for 1.5x this means offline",
  ),
  firmware: z.string().max(64).optional(),
});
export type DeviceAvailability = z.infer<typeof DeviceAvailability>;

/** `machines/{id}/heartbeat` (dispenser -> hub, every keepalive_s): liveness and sensors. */
export const DeviceHeartbeat = z.object({
  sent_at: EpochMs.optional().describe("Device clock; may be unsynced, informational only"),
  uptime_s: z.number().int().nonnegative(),
  version: z.number().int().nonnegative().describe("Last applied update version"),
  dispensing: z.boolean(),
  ball_level: BallLevel,
  fault: z.string().max(200).nullable().describe("e.g. jam, motor, sensor; null when fine"),
});
export type DeviceHeartbeat = z.infer<typeof DeviceHeartbeat>;
