/**
 * The machine handler's record of one bay, and what is derived from it: the public
 * {@linkcode MachineState} (with its status) and the desired state sent to the dispenser.
 *
 * The record keeps the causes separately (session, hold, maintenance, link error, fault,
 * connectivity); the status is derived from them, so it can never disagree with them:
 *
 * 1. maintenance reason set            -> `maintenance`
 * 2. link error or fault               -> `error` (a session, if any, is kept)
 * 3. session running / paused          -> `active` / `paused` (even while offline: `online` false)
 * 4. live payment hold                 -> `reserved`
 * 5. dispenser not connected           -> `offline`
 * 6. otherwise                         -> `available`
 *
 * @module
 */
import { z } from "zod";
import { EpochMs, MachineId } from "../../protocol/common.ts";
import type { DeviceUpdate } from "../../protocol/device.ts";
import {
  BallLevel,
  Hold,
  type MachineState,
  type MachineStatus,
  Session,
} from "../../protocol/machine.ts";

/** What the handler persists for one bay. */
export const MachineRecord = z.object({
  machine_id: MachineId,
  label: z.string(),
  session: Session.nullable(),
  hold: Hold.nullable(),
  maintenance_reason: z.string().nullable(),
  /** Set when the dispenser did not acknowledge or refused an update; cleared by an ack. */
  link_error: z.string().nullable(),
  /** The fault the dispenser reports in its heartbeat (e.g. "jam"). */
  fault: z.string().nullable(),
  ball_level: BallLevel,
  online: z.boolean(),
  last_seen: EpochMs.nullable(),
  keepalive_s: z.number().int().positive(),
  desired_version: z.number().int().positive(),
  acked_version: z.number().int().nonnegative(),
  updated_at: EpochMs,
});
export type MachineRecord = z.infer<typeof MachineRecord>;

/** The operative mode the hub wants the dispenser in (no connectivity or error involved). */
export type Mode = "available" | "active" | "paused" | "reserved" | "maintenance";

/** A new bay that the handler has never seen: desired version 1 is "available". */
export function freshRecord(
  machine_id: number,
  label: string,
  keepalive_s: number,
  now: number,
): MachineRecord {
  return {
    machine_id,
    label,
    session: null,
    hold: null,
    maintenance_reason: null,
    link_error: null,
    fault: null,
    ball_level: "unknown",
    online: false,
    last_seen: null,
    keepalive_s,
    desired_version: 1,
    acked_version: 0,
    updated_at: now,
  };
}

/** The payment hold if it has not lapsed at `now`. */
export function liveHold(r: MachineRecord, now: number) {
  return r.hold && r.hold.expires_at > now ? r.hold : null;
}

/**
 * Whether the bay's payment hold is live at `now`: the only way the time enters
 * {@linkcode toMachineState} (a cached state stays valid while this and the record do not change).
 */
export function holdIsLive(r: MachineRecord, now: number): boolean {
  return r.hold !== null && r.hold.expires_at > now;
}

/** The mode of a bay at `now` (a lapsed hold counts as gone). */
export function modeOf(r: MachineRecord, now: number): Mode {
  if (r.maintenance_reason !== null) return "maintenance";
  if (r.session) return r.session.paid_until === null ? "paused" : "active";
  if (liveHold(r, now)) return "reserved";
  return "available";
}

/** The public status of a bay (see the module doc for the order). */
export function statusOf(r: MachineRecord, now: number): MachineStatus {
  const mode = modeOf(r, now);
  if (mode === "maintenance") return "maintenance";
  if (r.link_error !== null || r.fault !== null) return "error";
  if (mode !== "available") return mode;
  return r.online ? "available" : "offline";
}

/** Why the bay is not simply available, for people. */
export function reasonOf(r: MachineRecord, now: number): string | null {
  switch (statusOf(r, now)) {
    case "maintenance":
      return r.maintenance_reason;
    case "error":
      return r.link_error ?? `dispenser reports a fault: ${r.fault}`;
    case "reserved":
      return `held for payment at the ${liveHold(r, now)?.origin}`;
    case "offline":
      return "dispenser is not connected";
    default:
      return null;
  }
}

/** The bay as every other node sees it (depends on `now` only through {@linkcode holdIsLive}). */
export function toMachineState(r: MachineRecord, now: number): MachineState {
  return {
    machine_id: r.machine_id,
    label: r.label,
    status: statusOf(r, now),
    session: r.session,
    hold: liveHold(r, now),
    ball_level: r.ball_level,
    online: r.online,
    last_seen: r.last_seen,
    desired_version: r.desired_version,
    acked_version: r.acked_version,
    reason: reasonOf(r, now),
    fault: r.fault,
    updated_at: r.updated_at,
  };
}

/** The update body (without envelope) that tells the dispenser the desired state at `now`. */
export type DesiredState = Omit<DeviceUpdate, "correlation_id" | "origin" | "sent_at">;

export function desiredState(r: MachineRecord, now: number): DesiredState {
  const mode = modeOf(r, now);
  const s = r.session;
  const running = mode === "active" && s !== null && s.paid_until !== null;
  return {
    version: r.desired_version,
    status: mode,
    dispense: running,
    session_id: s?.session_id ?? null,
    deadline: running ? s.paid_until : null,
    remaining_s: running
      ? Math.max(0, Math.ceil((s.paid_until! - now) / 1000))
      : mode === "paused" && s !== null && s.remaining_ms !== null
      ? Math.ceil(s.remaining_ms / 1000)
      : null,
  };
}

/** Milliseconds of paid time left in a session at `now`. */
export function remainingMs(s: Session, now: number): number {
  if (s.paid_until === null) return s.remaining_ms ?? 0;
  return Math.max(0, s.paid_until - now);
}
