/**
 * Every row of the precedence table (`docs/conflicts.md`), as pure unit tests of `decide()` and
 * `decideExpiry()`; rows that need the whole handler (G1-G3, I1, I2) are tested over MQTT in
 * the other files, with the row id in the test name. The last test checks that no row is
 * left untested.
 */
import assert from "node:assert/strict";
import {
  decide,
  decideExpiry,
  type Decision,
  type KnownSession,
  precedence,
} from "../../actors/machine_handler/conflicts.ts";
import { freshRecord, type MachineRecord } from "../../actors/machine_handler/machine_record.ts";
import type { MachineCommand } from "../../protocol/command.ts";
import type { Session } from "../../protocol/machine.ts";

const NOW = Date.UTC(2026, 11, 3, 14, 0, 0);
const MIN = 60_000;

function bay(patch: Partial<MachineRecord> = {}, id = 12): MachineRecord {
  return { ...freshRecord(id, `Bay ${id}`, 10, NOW - MIN), online: true, ...patch };
}

function session(patch: Partial<Session> = {}): Session {
  return {
    session_id: "s-1",
    origin: "kiosk",
    started_at: NOW - 25 * MIN,
    paid_s: 3600,
    paid_until: NOW + 35 * MIN, // 14:35
    remaining_ms: null,
    amount_cents: 1500,
    group_id: null,
    ...patch,
  };
}
const paused = () => session({ paid_until: null, remaining_ms: 23 * MIN });
const hold = (origin = "kiosk", hold_id = "h-1") => ({
  hold_id,
  origin,
  expires_at: NOW + 2 * MIN,
});

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type Body =
  & DistributiveOmit<MachineCommand, "correlation_id" | "sent_at" | "origin" | "machine_id">
  & { origin?: string; machine_id?: number };
type ActivateBody = Extract<Body, { action: "activate" }>;

function cmd(body: Body): MachineCommand {
  return {
    correlation_id: "c-1",
    sent_at: NOW,
    origin: "kiosk",
    machine_id: 12,
    ...body,
  } as MachineCommand;
}

interface Case {
  row: string;
  name: string;
  record: MachineRecord | null;
  command: Body;
  known?: KnownSession;
  expect: { kind: Decision["kind"]; code?: string; forced?: boolean; message?: RegExp };
}

const activate = (extra: Partial<ActivateBody> = {}): Body => ({
  action: "activate",
  duration_s: 1800,
  ...extra,
});
const admin = (b: Body) => ({ ...b, origin: "admin" }) as Body;
const forced = (b: Body) => ({ ...b, origin: "admin", force: true }) as Body;

const cases: Case[] = [
  {
    row: "G4",
    name: "an unknown bay is refused",
    record: null,
    command: activate({ machine_id: 99 }),
    expect: { kind: "reject", code: "unknown_machine", message: /There is no bay 99/ },
  },
  {
    row: "G4",
    name: "an unknown bay is refused even with force",
    record: null,
    command: forced(activate({ machine_id: 99 })),
    expect: { kind: "reject", code: "unknown_machine" },
  },
  {
    row: "G5",
    name: "force from the kiosk is refused",
    record: bay({ session: session() }),
    command: { ...activate(), force: true } as Body,
    expect: {
      kind: "reject",
      code: "invalid_payload",
      message: /force is only accepted from staff nodes \(admin\); kiosk may not override/,
    },
  },
  // activate
  {
    row: "A1",
    name: "activate with the bay's current session id changes nothing",
    record: bay({ session: session() }),
    command: activate({ session_id: "s-1" }),
    expect: { kind: "noop" },
  },
  {
    row: "A2",
    name: "activate with a session id that already ended is refused",
    record: bay(),
    command: activate({ session_id: "s-old" }),
    known: { machine_id: 3, ended_at: NOW - 10 * MIN },
    expect: { kind: "reject", code: "conflict", message: /already ran and ended at 13:50/ },
  },
  {
    row: "A2",
    name: "activate with a session id running on another bay is refused, even forced",
    record: bay(),
    command: forced(activate({ session_id: "s-5" })),
    known: { machine_id: 5, ended_at: null },
    expect: { kind: "reject", code: "conflict", message: /running on bay 5/ },
  },
  {
    row: "A3",
    name: "activate on a bay in maintenance is refused",
    record: bay({ maintenance_reason: "net repair" }),
    command: activate(),
    expect: {
      kind: "reject",
      code: "in_maintenance",
      message: /^Bay 12 is in maintenance \(net repair\); pick another bay$/,
    },
  },
  {
    row: "A3",
    name: "forced activate ends maintenance",
    record: bay({ maintenance_reason: "net repair" }),
    command: forced(activate()),
    expect: { kind: "apply", forced: true },
  },
  {
    row: "A4",
    name: "activate on a bay with another origin's session is refused with its end time",
    record: bay({ session: session() }),
    command: admin(activate()),
    expect: {
      kind: "reject",
      code: "conflict",
      message: /^Bay 12 is active until 14:35 for a kiosk session; pick another bay or ask staff$/,
    },
  },
  {
    row: "A4",
    name: "activate on a paused session says how much time is left",
    record: bay({ session: paused() }),
    command: activate(),
    expect: {
      kind: "reject",
      code: "conflict",
      message: /Bay 12 is paused with 23 min left in a kiosk session/,
    },
  },
  {
    row: "A4",
    name: "forced activate replaces the session",
    record: bay({ session: session() }),
    command: forced(activate()),
    expect: { kind: "apply", forced: true },
  },
  {
    row: "A5",
    name: "activate on a bay held at another kiosk is refused",
    record: bay({ hold: hold() }),
    command: activate({ hold_id: "h-other" }),
    expect: {
      kind: "reject",
      code: "conflict",
      message: /^Bay 12 is being paid for at another kiosk; pick another bay$/,
    },
  },
  {
    row: "A5",
    name: "activate without hold id on a bay held by the webhook names it and its end",
    record: bay({ hold: hold("webhook") }),
    command: activate(),
    expect: {
      kind: "reject",
      code: "conflict",
      message: /being paid for at the webhook until 14:02; pick another bay/,
    },
  },
  {
    row: "A5",
    name: "forced activate drops the hold",
    record: bay({ hold: hold() }),
    command: forced(activate()),
    expect: { kind: "apply", forced: true },
  },
  {
    row: "A6",
    name: "activate on a bay with a fault is refused",
    record: bay({ fault: "jam" }),
    command: activate(),
    expect: { kind: "reject", code: "machine_error", message: /Bay 12 reports a fault \(jam\)/ },
  },
  {
    row: "A6",
    name: "activate on a bay whose dispenser does not answer is refused",
    record: bay({ link_error: "dispenser did not acknowledge" }),
    command: activate({ hold_id: "h-1" }),
    expect: { kind: "reject", code: "machine_error", message: /dispenser is not responding/ },
  },
  {
    row: "A6",
    name: "forced activate on a bay in error applies",
    record: bay({ fault: "jam" }),
    command: forced(activate()),
    expect: { kind: "apply", forced: true },
  },
  {
    row: "A7",
    name: "activate on an offline bay is refused",
    record: bay({ online: false }),
    command: activate(),
    expect: {
      kind: "reject",
      code: "machine_offline",
      message: /^Bay 12's dispenser is offline; pick another bay$/,
    },
  },
  {
    row: "A7",
    name: "forced activate on an offline bay applies",
    record: bay({ online: false }),
    command: forced(activate()),
    expect: { kind: "apply", forced: true },
  },
  {
    row: "A8",
    name: "activate on a free bay applies",
    record: bay(),
    command: activate(),
    expect: { kind: "apply", forced: false },
  },
  {
    row: "A8",
    name: "activate with the matching hold id converts the hold",
    record: bay({ hold: hold("kiosk", "h-9") }),
    command: activate({ hold_id: "h-9" }),
    expect: { kind: "apply", forced: false },
  },
  {
    row: "A8",
    name: "a lapsed hold does not block activate",
    record: bay({ hold: { ...hold(), expires_at: NOW } }),
    command: activate(),
    expect: { kind: "apply", forced: false },
  },
  {
    row: "A8",
    name: "force on a free bay is not recorded as an override",
    record: bay(),
    command: forced(activate()),
    expect: { kind: "apply", forced: false },
  },
  // deactivate
  {
    row: "D1",
    name: "deactivate of a session that is not current is stale",
    record: bay({ session: session({ session_id: "s-2" }) }),
    command: { action: "deactivate", session_id: "s-1" },
    expect: { kind: "reject", code: "stale_session", message: /Session s-1 is not the current/ },
  },
  {
    row: "D1",
    name: "deactivate with a session id on a free bay is stale",
    record: bay(),
    command: { action: "deactivate", session_id: "s-1" },
    expect: { kind: "reject", code: "stale_session", message: /no session is running/ },
  },
  {
    row: "D2",
    name: "deactivate without a session is not_active",
    record: bay(),
    command: { action: "deactivate" },
    expect: { kind: "reject", code: "not_active", message: /^Bay 12 has no session to end$/ },
  },
  {
    row: "D3",
    name: "deactivate of the kiosk's session by the webhook without session id is refused",
    record: bay({ session: session() }),
    command: { action: "deactivate", origin: "webhook" },
    expect: { kind: "reject", code: "conflict", message: /only the kiosk or staff can end it/ },
  },
  {
    row: "D4",
    name: "deactivate by the session's origin applies",
    record: bay({ session: session() }),
    command: { action: "deactivate" },
    expect: { kind: "apply" },
  },
  {
    row: "D4",
    name: "deactivate by staff applies",
    record: bay({ session: session() }),
    command: admin({ action: "deactivate" }),
    expect: { kind: "apply" },
  },
  {
    row: "D4",
    name: "deactivate by another origin naming the session applies, also offline",
    record: bay({ session: session(), online: false }),
    command: { action: "deactivate", origin: "webhook", session_id: "s-1" },
    expect: { kind: "apply" },
  },
  // extend
  {
    row: "X1",
    name: "extend of a stale session",
    record: bay({ session: session() }),
    command: { action: "extend", add_s: 600, session_id: "s-0" },
    expect: { kind: "reject", code: "stale_session" },
  },
  {
    row: "X2",
    name: "extend without a session",
    record: bay(),
    command: { action: "extend", add_s: 600 },
    expect: { kind: "reject", code: "not_active", message: /no session to extend/ },
  },
  {
    row: "X3",
    name: "extend of another origin's session without its id",
    record: bay({ session: session() }),
    command: { action: "extend", add_s: 600, origin: "webhook" },
    expect: { kind: "reject", code: "conflict" },
  },
  {
    row: "X4",
    name: "extend on a bay in error",
    record: bay({ session: session(), fault: "jam" }),
    command: { action: "extend", add_s: 600 },
    expect: { kind: "reject", code: "machine_error" },
  },
  {
    row: "X4",
    name: "forced extend on a bay in error",
    record: bay({ session: session(), fault: "jam" }),
    command: forced({ action: "extend", add_s: 600 }),
    expect: { kind: "apply", forced: true },
  },
  {
    row: "X5",
    name: "extend on an offline bay",
    record: bay({ session: session(), online: false }),
    command: { action: "extend", add_s: 600 },
    expect: { kind: "reject", code: "machine_offline" },
  },
  {
    row: "X5",
    name: "forced extend on an offline bay",
    record: bay({ session: session(), online: false }),
    command: forced({ action: "extend", add_s: 600 }),
    expect: { kind: "apply", forced: true },
  },
  {
    row: "X6",
    name: "extend of a paused session",
    record: bay({ session: paused() }),
    command: { action: "extend", add_s: 600, origin: "webhook", session_id: "s-1" },
    expect: { kind: "apply", forced: false },
  },
  // pause
  {
    row: "P1",
    name: "pause of a stale session",
    record: bay({ session: session() }),
    command: { action: "pause", session_id: "x" },
    expect: { kind: "reject", code: "stale_session" },
  },
  {
    row: "P2",
    name: "pause without a session",
    record: bay(),
    command: { action: "pause" },
    expect: { kind: "reject", code: "not_active" },
  },
  {
    row: "P3",
    name: "pause of another origin's session",
    record: bay({ session: session() }),
    command: { action: "pause", origin: "webhook" },
    expect: { kind: "reject", code: "conflict" },
  },
  {
    row: "P4",
    name: "pause of a paused session",
    record: bay({ session: paused() }),
    command: { action: "pause" },
    expect: { kind: "reject", code: "not_active", message: /already paused/ },
  },
  {
    row: "P5",
    name: "pause on an offline bay with a fault keeps the paid time",
    record: bay({ session: session(), online: false, fault: "jam" }),
    command: { action: "pause" },
    expect: { kind: "apply" },
  },
  // resume
  {
    row: "U1",
    name: "resume of a stale session",
    record: bay({ session: paused() }),
    command: { action: "resume", session_id: "x" },
    expect: { kind: "reject", code: "stale_session" },
  },
  {
    row: "U2",
    name: "resume without a session",
    record: bay(),
    command: { action: "resume" },
    expect: { kind: "reject", code: "not_active" },
  },
  {
    row: "U3",
    name: "resume of another origin's session",
    record: bay({ session: paused() }),
    command: { action: "resume", origin: "webhook" },
    expect: { kind: "reject", code: "conflict" },
  },
  {
    row: "U4",
    name: "resume of a running session",
    record: bay({ session: session() }),
    command: { action: "resume" },
    expect: { kind: "reject", code: "not_paused" },
  },
  {
    row: "U5",
    name: "resume on a bay in error",
    record: bay({ session: paused(), link_error: "dispenser did not acknowledge" }),
    command: { action: "resume" },
    expect: { kind: "reject", code: "machine_error" },
  },
  {
    row: "U5",
    name: "forced resume on a bay in error",
    record: bay({ session: paused(), fault: "jam" }),
    command: forced({ action: "resume" }),
    expect: { kind: "apply", forced: true },
  },
  {
    row: "U6",
    name: "resume on an offline bay",
    record: bay({ session: paused(), online: false }),
    command: { action: "resume" },
    expect: { kind: "reject", code: "machine_offline" },
  },
  {
    row: "U6",
    name: "forced resume on an offline bay",
    record: bay({ session: paused(), online: false }),
    command: forced({ action: "resume" }),
    expect: { kind: "apply", forced: true },
  },
  {
    row: "U7",
    name: "resume of a paused session",
    record: bay({ session: paused() }),
    command: { action: "resume" },
    expect: { kind: "apply", forced: false },
  },
  // maintenance_on
  {
    row: "N1",
    name: "maintenance on a bay with a session is refused",
    record: bay({ session: session() }),
    command: admin({ action: "maintenance_on", reason: "net" }),
    expect: { kind: "reject", code: "conflict", message: /end the session first, or use force/ },
  },
  {
    row: "N1",
    name: "forced maintenance ends the session",
    record: bay({ session: session() }),
    command: forced({ action: "maintenance_on", reason: "net" }),
    expect: { kind: "apply", forced: true },
  },
  {
    row: "N2",
    name: "maintenance on a held bay is refused",
    record: bay({ hold: hold() }),
    command: admin({ action: "maintenance_on", reason: "net" }),
    expect: {
      kind: "reject",
      code: "conflict",
      message: /being paid for at the kiosk until 14:02/,
    },
  },
  {
    row: "N2",
    name: "forced maintenance drops the hold",
    record: bay({ hold: hold() }),
    command: forced({ action: "maintenance_on", reason: "net" }),
    expect: { kind: "apply", forced: true },
  },
  {
    row: "N3",
    name: "maintenance on an offline bay in error applies",
    record: bay({ online: false, fault: "jam" }),
    command: admin({ action: "maintenance_on", reason: "net" }),
    expect: { kind: "apply", forced: false },
  },
  {
    row: "N3",
    name: "maintenance on a bay already in maintenance replaces the reason",
    record: bay({ maintenance_reason: "old" }),
    command: admin({ action: "maintenance_on", reason: "new" }),
    expect: { kind: "apply" },
  },
  // maintenance_off
  {
    row: "F1",
    name: "maintenance_off on a bay not in maintenance changes nothing",
    record: bay(),
    command: admin({ action: "maintenance_off" }),
    expect: { kind: "noop" },
  },
  {
    row: "F2",
    name: "maintenance_off ends maintenance",
    record: bay({ maintenance_reason: "net" }),
    command: admin({ action: "maintenance_off" }),
    expect: { kind: "apply" },
  },
  // hold
  {
    row: "H1",
    name: "the same hold again changes nothing",
    record: bay({ hold: hold() }),
    command: { action: "hold", hold_id: "h-1", hold_s: 120 },
    expect: { kind: "noop" },
  },
  {
    row: "H2",
    name: "hold on a bay in maintenance",
    record: bay({ maintenance_reason: "net" }),
    command: { action: "hold", hold_id: "h-2", hold_s: 120 },
    expect: { kind: "reject", code: "in_maintenance" },
  },
  {
    row: "H2",
    name: "forced hold on a bay in maintenance",
    record: bay({ maintenance_reason: "net" }),
    command: forced({ action: "hold", hold_id: "h-2", hold_s: 120 }),
    expect: { kind: "apply", forced: true },
  },
  {
    row: "H3",
    name: "hold on a bay with a session",
    record: bay({ session: session() }),
    command: { action: "hold", hold_id: "h-2", hold_s: 120 },
    expect: { kind: "reject", code: "conflict", message: /active until 14:35/ },
  },
  {
    row: "H3",
    name: "forced hold on a bay with a session",
    record: bay({ session: session() }),
    command: forced({ action: "hold", hold_id: "h-2", hold_s: 120 }),
    expect: { kind: "apply", forced: true },
  },
  {
    row: "H4",
    name: "hold on a bay held at another kiosk",
    record: bay({ hold: hold() }),
    command: { action: "hold", hold_id: "h-2", hold_s: 120 },
    expect: {
      kind: "reject",
      code: "conflict",
      message: /^Bay 12 is being paid for at another kiosk; pick another bay$/,
    },
  },
  {
    row: "H4",
    name: "forced hold replaces another hold",
    record: bay({ hold: hold() }),
    command: forced({ action: "hold", hold_id: "h-2", hold_s: 120 }),
    expect: { kind: "apply", forced: true },
  },
  {
    row: "H5",
    name: "hold on a bay in error",
    record: bay({ fault: "jam" }),
    command: { action: "hold", hold_id: "h-2", hold_s: 120 },
    expect: { kind: "reject", code: "machine_error" },
  },
  {
    row: "H5",
    name: "forced hold on a bay in error",
    record: bay({ fault: "jam" }),
    command: forced({ action: "hold", hold_id: "h-2", hold_s: 120 }),
    expect: { kind: "apply", forced: true },
  },
  {
    row: "H6",
    name: "hold on an offline bay",
    record: bay({ online: false }),
    command: { action: "hold", hold_id: "h-2", hold_s: 120 },
    expect: { kind: "reject", code: "machine_offline" },
  },
  {
    row: "H6",
    name: "forced hold on an offline bay",
    record: bay({ online: false }),
    command: forced({ action: "hold", hold_id: "h-2", hold_s: 120 }),
    expect: { kind: "apply", forced: true },
  },
  {
    row: "H7",
    name: "hold on a free bay",
    record: bay(),
    command: { action: "hold", hold_id: "h-2", hold_s: 120 },
    expect: { kind: "apply", forced: false },
  },
  {
    row: "H7",
    name: "hold where a lapsed hold was",
    record: bay({ hold: { ...hold(), expires_at: NOW - 1 } }),
    command: { action: "hold", hold_id: "h-2", hold_s: 120 },
    expect: { kind: "apply" },
  },
  // release
  {
    row: "L1",
    name: "release of a hold that is not on the bay changes nothing",
    record: bay({ hold: hold("kiosk", "h-other") }),
    command: { action: "release", hold_id: "h-1" },
    expect: { kind: "noop" },
  },
  {
    row: "L1",
    name: "release of a lapsed hold changes nothing",
    record: bay({ hold: { ...hold(), expires_at: NOW } }),
    command: { action: "release", hold_id: "h-1" },
    expect: { kind: "noop" },
  },
  {
    row: "L2",
    name: "release of the bay's hold",
    record: bay({ hold: hold() }),
    command: { action: "release", hold_id: "h-1" },
    expect: { kind: "apply" },
  },
];

for (const c of cases) {
  Deno.test(`decide() [${c.row}] ${c.name}`, () => {
    const command = cmd(c.command);
    const d = decide({
      record: c.record,
      command,
      now: NOW,
      staff: command.origin === "admin",
      staffOrigins: ["admin"],
      knownSession: c.known ?? null,
      timeZone: "UTC",
    });
    assert.equal(d.rule, c.row, JSON.stringify(d));
    assert.equal(d.kind, c.expect.kind, JSON.stringify(d));
    if (c.expect.code) assert.equal(d.kind === "reject" && d.code, c.expect.code);
    if (c.expect.forced !== undefined) {
      assert.equal(d.kind === "apply" && d.forced, c.expect.forced);
    }
    if (c.expect.message) assert.match(d.kind === "reject" ? d.message : "", c.expect.message);
  });
}

const expiryCases = [
  { row: "T1", record: null, session_id: "s-1", ended: false },
  {
    row: "T2",
    record: bay({ session: session({ session_id: "s-2" }) }),
    session_id: "s-1",
    ended: false,
  },
  { row: "T2", record: bay(), session_id: "s-1", ended: false },
  { row: "T3", record: bay({ session: paused() }), session_id: "s-1", ended: false },
  {
    row: "T4",
    record: bay({ session: session({ paid_until: NOW + 1_001 }) }),
    session_id: "s-1",
    ended: false,
  },
  {
    row: "T5",
    record: bay({ session: session({ paid_until: NOW + 1_000 }) }),
    session_id: "s-1",
    ended: true,
  },
  {
    row: "T5",
    record: bay({ session: session({ paid_until: NOW - 50 }) }),
    session_id: "s-1",
    ended: true,
  },
];

for (const c of expiryCases) {
  Deno.test(`decideExpiry() [${c.row}] ends only a current, running, finished session`, () => {
    const d = decideExpiry(c.record, { session_id: c.session_id }, NOW);
    assert.equal(d.rule, c.row);
    assert.equal(d.ended, c.ended);
  });
}

Deno.test("precedence table: every row is tested (here or over MQTT with [id] in the test name)", async () => {
  const dir = new URL(".", import.meta.url);
  let sources = "";
  for await (const e of Deno.readDir(dir)) {
    if (e.name.endsWith("_test.ts")) sources += await Deno.readTextFile(new URL(e.name, dir));
  }
  const covered = new Set<string>([...cases.map((c) => c.row), ...expiryCases.map((c) => c.row)]);
  for (const m of sources.matchAll(/\[([A-Z][0-9])\]/g)) covered.add(m[1]);
  const missing = precedence.map((r) => r.id).filter((id) => !covered.has(id));
  assert.deepEqual(missing, []);
  // Ids are unique and rows with an override say what force does.
  assert.equal(new Set(precedence.map((r) => r.id)).size, precedence.length);
});

Deno.test("docs/conflicts.md shows the precedence table exactly as the code has it", async () => {
  const doc = await Deno.readTextFile(new URL("../../docs/conflicts.md", import.meta.url));
  const rows = doc.split("\n")
    .filter((l) => /^\| [A-Z][0-9] +\|/.test(l))
    .map((l) => l.slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim().replaceAll("\\|", "|")));
  assert.deepEqual(
    rows,
    precedence.map((r) => [r.id, r.applies_to, r.when, r.outcome, r.force]),
  );
});
