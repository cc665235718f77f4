/**
 * Conflict resolution: whether a command may change a bay, decided before any status change or
 * publish. {@linkcode decide} is a pure function of the bay's record, the command and the time;
 * {@linkcode precedence} is its table, rendered in `docs/conflicts.md` and tested row by row.
 *
 * @module
 */
import type { MachineCommand } from "../../protocol/command.ts";
import type { ErrorCode } from "../../protocol/common.ts";
import type { TimerExpired } from "../../protocol/timer.ts";
import { liveHold, type MachineRecord, modeOf } from "./machine_record.ts";
import { clockTime, sessionStatus } from "./wording.ts";

/** One row of the precedence table. Within an action the first row that matches wins. */
export interface PrecedenceRow {
  readonly id: string;
  readonly applies_to: string;
  readonly when: string;
  readonly outcome: string;
  /** What `force: true` from a staff node does; "-" = force does not change the outcome. */
  readonly force: string;
}

/** The precedence table, in evaluation order. */
export const precedence: readonly PrecedenceRow[] = [
  // Every command, before anything else.
  row("G1", "any", "payload fails the schema", "`invalid_payload` (zod issues listed)", "-"),
  row(
    "G2",
    "any",
    "same `idempotency_key` as an earlier command; or, without a key, same origin, bay, action " +
      "and parameters within `duplicate_window_ms`",
    "not applied again; the first outcome is repeated with `duplicate: true`",
    "-",
  ),
  row("G3", "any", "`idempotency_key` reused for a different command", "`conflict`", "-"),
  row("G4", "any", "bay not in the configuration", "`unknown_machine`", "-"),
  row("G5", "any", "`force` from a node that is not staff", "`invalid_payload`", "-"),
  // activate
  row("A1", "activate", "`session_id` is the bay's current session", "ok, nothing changes", "-"),
  row(
    "A2",
    "activate",
    "`session_id` was used before (ended, or running on another bay)",
    "`conflict`",
    "-",
  ),
  row(
    "A3",
    "activate",
    "bay in maintenance",
    "`in_maintenance`",
    "maintenance ends, session starts",
  ),
  row(
    "A4",
    "activate",
    "another session runs or is paused on the bay",
    '`conflict` ("Bay 12 is active until 14:35 for a kiosk session; pick another bay or ask ' +
      'staff")',
    "that session is ended (recorded), the new one starts",
  ),
  row(
    "A5",
    "activate",
    "bay held for a payment and `hold_id` is absent or another",
    '`conflict` ("Bay 7 is being paid for at another kiosk; pick another bay")',
    "the hold is dropped, session starts",
  ),
  row(
    "A6",
    "activate",
    "bay in error (fault or dispenser not acknowledging)",
    "`machine_error`",
    "applied",
  ),
  row(
    "A7",
    "activate",
    "dispenser offline",
    "`machine_offline`",
    "applied; the update is delivered when it is back",
  ),
  row("A8", "activate", "otherwise", "session starts (a matching hold is converted)", "-"),
  // deactivate
  row(
    "D1",
    "deactivate",
    "`session_id` given and not the bay's current session",
    "`stale_session`",
    "-",
  ),
  row("D2", "deactivate", "no session on the bay", "`not_active`", "-"),
  row(
    "D3",
    "deactivate",
    "session of another origin, caller is not staff and gave no `session_id`",
    "`conflict`",
    "- (staff are never refused here)",
  ),
  row("D4", "deactivate", "otherwise (also offline, error)", "session ends", "-"),
  // extend
  row("X1", "extend", "`session_id` given and not the current session", "`stale_session`", "-"),
  row("X2", "extend", "no session on the bay", "`not_active`", "-"),
  row("X3", "extend", "session of another origin, not staff, no `session_id`", "`conflict`", "-"),
  row("X4", "extend", "bay in error", "`machine_error`", "applied"),
  row("X5", "extend", "dispenser offline", "`machine_offline`", "applied"),
  row("X6", "extend", "otherwise (running or paused)", "paid time added", "-"),
  // pause
  row("P1", "pause", "`session_id` given and not the current session", "`stale_session`", "-"),
  row("P2", "pause", "no session on the bay", "`not_active`", "-"),
  row("P3", "pause", "session of another origin, not staff, no `session_id`", "`conflict`", "-"),
  row("P4", "pause", "session already paused", "`not_active`", "-"),
  row(
    "P5",
    "pause",
    "otherwise (also offline, error: pausing keeps paid time)",
    "session paused, remaining time kept",
    "-",
  ),
  // resume
  row("U1", "resume", "`session_id` given and not the current session", "`stale_session`", "-"),
  row("U2", "resume", "no session on the bay", "`not_active`", "-"),
  row("U3", "resume", "session of another origin, not staff, no `session_id`", "`conflict`", "-"),
  row("U4", "resume", "session is running", "`not_paused`", "-"),
  row("U5", "resume", "bay in error", "`machine_error`", "applied"),
  row("U6", "resume", "dispenser offline", "`machine_offline`", "applied"),
  row("U7", "resume", "otherwise", "session runs again with the remaining time", "-"),
  // maintenance_on
  row(
    "N1",
    "maintenance_on",
    "a session runs or is paused",
    "`conflict`",
    "the session is ended (recorded), maintenance starts",
  ),
  row("N2", "maintenance_on", "bay held for a payment", "`conflict`", "the hold is dropped"),
  row(
    "N3",
    "maintenance_on",
    "otherwise (also offline, error, already in maintenance: reason replaced)",
    "maintenance",
    "-",
  ),
  // maintenance_off
  row("F1", "maintenance_off", "bay not in maintenance", "ok, nothing changes", "-"),
  row(
    "F2",
    "maintenance_off",
    "otherwise",
    "back in service (`available`, or `offline`/`error` as the dispenser is)",
    "-",
  ),
  // hold
  row("H1", "hold", "the same `hold_id` is already on the bay", "ok, nothing changes", "-"),
  row("H2", "hold", "bay in maintenance", "`in_maintenance`", "maintenance ends, bay held"),
  row("H3", "hold", "a session runs or is paused", "`conflict`", "the session is ended, bay held"),
  row(
    "H4",
    "hold",
    "another live hold",
    '`conflict` ("Bay 7 is being paid for at another kiosk; pick another bay")',
    "the other hold is replaced",
  ),
  row("H5", "hold", "bay in error", "`machine_error`", "applied"),
  row("H6", "hold", "dispenser offline", "`machine_offline`", "applied"),
  row("H7", "hold", "otherwise", "`reserved` until `expires_at`", "-"),
  // release
  row(
    "L1",
    "release",
    "`hold_id` is not the bay's live hold (lapsed, released, converted, someone else's)",
    "ok, nothing changes",
    "-",
  ),
  row("L2", "release", "otherwise", "hold removed, bay free", "-"),
  // timer/expired
  row("T1", "timer/expired", "bay not in the configuration", "`unknown_machine`", "-"),
  row(
    "T2",
    "timer/expired",
    "`session_id` is not the bay's current session",
    "`ended: false`",
    "-",
  ),
  row("T3", "timer/expired", "the session is paused", "`ended: false`", "-"),
  row(
    "T4",
    "timer/expired",
    "the handler's paid time is more than 1 s from over (timer behind an extend)",
    "`ended: false` (the backstop I2 ends it at its real end)",
    "-",
  ),
  row("T5", "timer/expired", "otherwise", "session ends, `ended: true`", "-"),
  // internal
  row("I1", "internal", "a hold reaches `expires_at`", "hold lapses, bay free", "-"),
  row(
    "I2",
    "internal",
    "a running session is `expiry_grace_ms` past its paid time and the timer has not ended it",
    "the handler ends it (backstop)",
    "-",
  ),
];

function row(
  id: string,
  applies_to: string,
  when: string,
  outcome: string,
  force: string,
): PrecedenceRow {
  return { id, applies_to, when, outcome, force };
}

/** What the ledger knows about a session id (for activate). */
export interface KnownSession {
  machine_id: number;
  ended_at: number | null;
}

export interface DecisionInput {
  /** The bay's record; null when the bay is not configured. */
  record: MachineRecord | null;
  command: MachineCommand;
  now: number;
  /** The command's origin is a staff node (`handler.staff_origins`). */
  staff: boolean;
  staffOrigins?: readonly string[];
  /** The ledger's record of `command.session_id` (activate only); null if never seen. */
  knownSession?: KnownSession | null;
  timeZone?: string | null;
}

export type Decision =
  | { kind: "reject"; rule: string; code: ErrorCode; message: string }
  | { kind: "noop"; rule: string }
  | { kind: "apply"; rule: string; forced: boolean };

const reject = (rule: string, code: ErrorCode, message: string): Decision => ({
  kind: "reject",
  rule,
  code,
  message,
});
const noop = (rule: string): Decision => ({ kind: "noop", rule });
const apply = (rule: string, forced = false): Decision => ({ kind: "apply", rule, forced });

/** Decides a command against the bay's current record. Pure. */
export function decide(input: DecisionInput): Decision {
  const { record: r, command: c, now, staff } = input;
  const tz = input.timeZone;
  if (r === null) {
    return reject(
      "G4",
      "unknown_machine",
      `There is no bay ${c.machine_id}; check the bay number`,
    );
  }
  if (c.force && !staff) {
    const who = input.staffOrigins?.length ? ` (${input.staffOrigins.join(", ")})` : "";
    return reject(
      "G5",
      "invalid_payload",
      `force is only accepted from staff nodes${who}; ${c.origin} may not override conflicts`,
    );
  }
  const force = c.force === true;
  /** A refusal that force overrides. */
  const overridable = (rule: string, code: ErrorCode, message: string): Decision =>
    force ? apply(rule, true) : reject(rule, code, message);

  const label = r.label;
  const mode = modeOf(r, now);
  const session = r.session;
  const hold = liveHold(r, now);
  const inError = r.link_error !== null || r.fault !== null;
  // Messages are only worded for refusals (they format clock times).
  const errorText = r.fault !== null
    ? `${label} reports a fault (${r.fault})`
    : `${label}'s dispenser is not responding`;
  const offline = !r.online;
  const sessionText = () => session ? `${label} is ${sessionStatus(session, now, tz)}` : "";
  const holdText = (verb: string) =>
    hold
      ? hold.origin === c.origin
        ? `${label} is being paid for at another ${hold.origin}; ${verb}`
        : `${label} is being paid for at the ${hold.origin} until ${
          clockTime(hold.expires_at, tz)
        }; ${verb}`
      : "";

  /** Rules shared by commands on the bay's session: stale id, no session, ownership. */
  const sessionGate = (
    ids: [string, string, string],
    verb: string,
    sessionId: string | undefined,
  ): Decision | null => {
    if (sessionId !== undefined && session?.session_id !== sessionId) {
      return reject(
        ids[0],
        "stale_session",
        `Session ${sessionId} is not the current session on ${label} (${
          session ? `${label} is ${sessionStatus(session, now, tz)}` : "no session is running"
        }); nothing was changed`,
      );
    }
    if (!session) return reject(ids[1], "not_active", `${label} has no session to ${verb}`);
    if (sessionId === undefined && session.origin !== c.origin && !staff) {
      return reject(
        ids[2],
        "conflict",
        `${sessionText()}; only the ${session.origin} or staff can ${verb} it, or send its session_id`,
      );
    }
    return null;
  };

  switch (c.action) {
    case "activate": {
      if (c.session_id !== undefined && session?.session_id === c.session_id) return noop("A1");
      const known = input.knownSession;
      if (c.session_id !== undefined && known) {
        return reject(
          "A2",
          "conflict",
          known.ended_at !== null
            ? `Session ${c.session_id} already ran and ended at ${
              clockTime(known.ended_at, tz)
            }; start a new session`
            : `Session ${c.session_id} is running on bay ${known.machine_id}; use a new session id`,
        );
      }
      if (mode === "maintenance") {
        return overridable(
          "A3",
          "in_maintenance",
          `${label} is in maintenance (${r.maintenance_reason}); pick another bay`,
        );
      }
      if (session) {
        return overridable("A4", "conflict", `${sessionText()}; pick another bay or ask staff`);
      }
      if (hold && hold.hold_id !== c.hold_id) {
        return overridable("A5", "conflict", holdText("pick another bay"));
      }
      if (inError) {
        return overridable(
          "A6",
          "machine_error",
          `${errorText}; pick another bay. Staff have been alerted`,
        );
      }
      if (offline) {
        return overridable(
          "A7",
          "machine_offline",
          `${label}'s dispenser is offline; pick another bay`,
        );
      }
      return apply("A8");
    }
    case "deactivate":
      return sessionGate(["D1", "D2", "D3"], "end", c.session_id) ?? apply("D4");
    case "extend": {
      const gate = sessionGate(["X1", "X2", "X3"], "extend", c.session_id);
      if (gate) return gate;
      if (inError) {
        return overridable(
          "X4",
          "machine_error",
          `${errorText}; staff must fix it before extending`,
        );
      }
      if (offline) {
        return overridable(
          "X5",
          "machine_offline",
          `${label}'s dispenser is offline; extend when it is back, or ask staff`,
        );
      }
      return apply("X6");
    }
    case "pause": {
      const gate = sessionGate(["P1", "P2", "P3"], "pause", c.session_id);
      if (gate) return gate;
      if (mode === "paused") {
        return reject("P4", "not_active", `${label}'s session is already paused`);
      }
      return apply("P5");
    }
    case "resume": {
      const gate = sessionGate(["U1", "U2", "U3"], "resume", c.session_id);
      if (gate) return gate;
      if (mode !== "paused") {
        return reject(
          "U4",
          "not_paused",
          `${label}'s session is not paused; it is already running`,
        );
      }
      if (inError) {
        return overridable(
          "U5",
          "machine_error",
          `${errorText}; staff must fix it before resuming`,
        );
      }
      if (offline) {
        return overridable(
          "U6",
          "machine_offline",
          `${label}'s dispenser is offline; resume when it is back, or ask staff`,
        );
      }
      return apply("U7");
    }
    case "maintenance_on":
      if (session) {
        return overridable(
          "N1",
          "conflict",
          `${sessionText()}; end the session first, or use force`,
        );
      }
      if (hold) {
        return overridable("N2", "conflict", holdText("wait for the payment, or use force"));
      }
      return apply("N3");
    case "maintenance_off":
      return mode === "maintenance" ? apply("F2") : noop("F1");
    case "hold":
      if (hold && hold.hold_id === c.hold_id) return noop("H1");
      if (mode === "maintenance") {
        return overridable(
          "H2",
          "in_maintenance",
          `${label} is in maintenance (${r.maintenance_reason}); pick another bay`,
        );
      }
      if (session) {
        return overridable("H3", "conflict", `${sessionText()}; pick another bay`);
      }
      if (hold) return overridable("H4", "conflict", holdText("pick another bay"));
      if (inError) {
        return overridable(
          "H5",
          "machine_error",
          `${errorText}; pick another bay. Staff have been alerted`,
        );
      }
      if (offline) {
        return overridable(
          "H6",
          "machine_offline",
          `${label}'s dispenser is offline; pick another bay`,
        );
      }
      return apply("H7");
    case "release":
      return hold && hold.hold_id === c.hold_id ? apply("L2") : noop("L1");
  }
}

/** How far the handler's paid time may still be from over when the timer reports expiry. */
export const EXPIRY_TOLERANCE_MS = 1_000;

export type ExpiryDecision =
  | { rule: "T1"; ended: false; unknown: true }
  | { rule: "T2" | "T3" | "T4"; ended: false; unknown?: false }
  | { rule: "T5"; ended: true; unknown?: false };

/** Decides a `timer/expired` request: end the session only if it is current and really over. */
export function decideExpiry(
  record: MachineRecord | null,
  req: Pick<TimerExpired, "session_id">,
  now: number,
): ExpiryDecision {
  if (record === null) return { rule: "T1", ended: false, unknown: true };
  const s = record.session;
  if (!s || s.session_id !== req.session_id) return { rule: "T2", ended: false };
  if (s.paid_until === null) return { rule: "T3", ended: false };
  if (s.paid_until - now > EXPIRY_TOLERANCE_MS) return { rule: "T4", ended: false };
  return { rule: "T5", ended: true };
}
