/**
 * Building blocks shared by every message: identifiers, the request envelope and the one
 * response shape (`ok` with data, or `error` with a stable code and a human-readable message).
 *
 * @module
 */
import { z } from "zod";

/** A bay's dispenser id: a positive integer, as printed on the bay. */
export const MachineId = z.number().int().min(1).max(99_999).describe("Bay / dispenser number");
export type MachineId = z.infer<typeof MachineId>;

/** Name of a node (origin of requests); used inside topics, so restricted to a safe alphabet. */
export const NodeId = z.string().regex(
  /^[a-z][a-z0-9_-]{0,63}$/,
  "lowercase letters, digits, '_' or '-', starting with a letter, at most 64 characters",
).describe("Node name, e.g. kiosk, admin, webhook, timer, machine_handler");
export type NodeId = z.infer<typeof NodeId>;

/** Correlation id chosen by the requester; every response echoes it. */
export const CorrelationId = z.string().min(1).max(128).describe("Chosen by the requester");

/** Milliseconds since the Unix epoch (UTC). */
export const EpochMs = z.number().int().nonnegative().describe("Milliseconds since 1970-01-01 UTC");

/** Fields every request carries. */
export const RequestEnvelope = z.object({
  correlation_id: CorrelationId,
  origin: NodeId,
  sent_at: EpochMs,
});
export type RequestEnvelope = z.infer<typeof RequestEnvelope>;

/** Stable, machine-readable error codes. Add to the end; never rename. */
export const ErrorCode = z.enum([
  "invalid_payload",
  "payload_too_large",
  "unknown_machine",
  "conflict",
  "not_active",
  "not_paused",
  "in_maintenance",
  "machine_offline",
  "machine_error",
  "device_timeout",
  "stale_session",
  "timeout",
  "unavailable",
  "internal",
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

export const ErrorBody = z.object({
  code: ErrorCode,
  message: z.string().min(1).describe("Human-readable, says what to do next where possible"),
  details: z.unknown().optional(),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

/** The error branch of every response. */
export const ErrorResponse = z.object({
  correlation_id: CorrelationId,
  status: z.literal("error"),
  error: ErrorBody,
  duplicate: z.boolean().optional().describe(
    "True when this repeats the outcome of an earlier identical request",
  ),
  sent_at: EpochMs.optional(),
});
export type ErrorResponse = z.infer<typeof ErrorResponse>;

/** Builds the response schema for a given data schema: `ok` with data, or `error`. */
export function responseOf<D extends z.ZodType>(data: D) {
  return z.discriminatedUnion("status", [
    z.object({
      correlation_id: CorrelationId,
      status: z.literal("ok"),
      data,
      duplicate: z.boolean().optional().describe(
        "True when this repeats the outcome of an earlier identical request",
      ),
      sent_at: EpochMs.optional(),
    }),
    ErrorResponse,
  ]);
}

/** The response to a request of data type `D`. */
export type ResponseOf<D> =
  | {
    correlation_id: string;
    status: "ok";
    data: D;
    duplicate?: boolean;
    sent_at?: number;
  }
  | ErrorResponse;
