/**
 * The protocol's enumerations as plain constants, without zod, so the browser UI can import them
 * without bundling the schemas. The schemas build their enums from these.
 *
 * @module
 */

/** Operative statuses of a bay; see `MachineStatus` in `machine.ts` for their meaning. */
export const MACHINE_STATUSES = [
  "available",
  "active",
  "paused",
  "reserved",
  "maintenance",
  "offline",
  "error",
] as const;

/** Actions of `machines/commands`. */
export const COMMAND_ACTIONS = [
  "activate",
  "deactivate",
  "extend",
  "pause",
  "resume",
  "maintenance_on",
  "maintenance_off",
  "hold",
  "release",
] as const;
