/**
 * The state of one bay as the machine handler holds it: the single source of truth.
 *
 * @module
 */
import { z } from "zod";
import { EpochMs, MachineId, NodeId } from "./common.ts";
import { MACHINE_STATUSES } from "./names.ts";

/**
 * Operative status of a bay.
 * - `available`: free, dispenser off.
 * - `active`: a paid session is running, dispenser on.
 * - `paused`: a session exists but is on a break; dispenser off, remaining time kept.
 * - `reserved`: held for a booking or a payment in progress; dispenser off.
 * - `maintenance`: taken out of service by staff; dispenser off.
 * - `offline`: the dispenser is not connected (and no session runs on it).
 * - `error`: the dispenser did not acknowledge, or reported a fault; needs staff.
 */
export const MachineStatus = z.enum(MACHINE_STATUSES);
export type MachineStatus = z.infer<typeof MachineStatus>;

/** Ball level as the dispenser's sensor reports it. */
export const BallLevel = z.enum(["full", "medium", "low", "urgent", "empty", "unknown"]);
export type BallLevel = z.infer<typeof BallLevel>;

export const SessionId = z.string().min(1).max(128);
export const HoldId = z.string().min(1).max(128);

/** A bay held while a customer pays; lapses at `expires_at`. */
export const Hold = z.object({
  hold_id: HoldId,
  origin: NodeId,
  expires_at: EpochMs,
});
export type Hold = z.infer<typeof Hold>;

/** A paid session on a bay. */
export const Session = z.object({
  session_id: SessionId,
  origin: NodeId,
  started_at: EpochMs,
  paid_s: z.number().int().nonnegative().describe("Total seconds paid, extensions included"),
  paid_until: EpochMs.nullable().describe("Wall-clock end while running; null while paused"),
  remaining_ms: z.number().int().nonnegative().nullable().describe(
    "Remaining time while paused; null while running",
  ),
  amount_cents: z.number().int().nonnegative().default(0),
  group_id: z.string().min(1).max(128).nullable().default(null).describe(
    "Multi-bay group booking this session belongs to",
  ),
});
export type Session = z.infer<typeof Session>;

/** Everything the hub knows about one bay. */
export const MachineState = z.object({
  machine_id: MachineId,
  label: z.string(),
  status: MachineStatus,
  session: Session.nullable(),
  hold: Hold.nullable().describe("Payment hold while status is reserved for a payment"),
  ball_level: BallLevel,
  online: z.boolean(),
  last_seen: EpochMs.nullable(),
  desired_version: z.number().int().nonnegative(),
  acked_version: z.number().int().nonnegative(),
  reason: z.string().nullable().describe("Why the bay is in maintenance, error or reserved"),
  fault: z.string().nullable(),
  updated_at: EpochMs,
});
export type MachineState = z.infer<typeof MachineState>;
