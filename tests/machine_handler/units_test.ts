/**
 * Unit tests of the machine handler's pure parts: transitions, duplicate suppression, the bay
 * record's derived status and desired state, the per-bay queue and the configuration.
 */
import assert from "node:assert/strict";
import {
  canonicalJson,
  DuplicateFilter,
  fingerprint,
} from "../../actors/machine_handler/duplicates.ts";
import { KeyedQueue } from "../../actors/machine_handler/keyed_queue.ts";
import {
  desiredState,
  freshRecord,
  type MachineRecord,
  statusOf,
  toMachineState,
} from "../../actors/machine_handler/machine_record.ts";
import { parseHandlerConfig } from "../../actors/machine_handler/machine_handler.ts";
import {
  applyCommand,
  expireSession,
  lapseHold,
} from "../../actors/machine_handler/transitions.ts";
import { ConfigError } from "../../lib/config.ts";
import type { MachineCommand } from "../../protocol/command.ts";

const NOW = Date.UTC(2026, 11, 3, 14, 0, 0);
const opts = { newSessionId: () => "s-gen", forced: false };

function bay(patch: Partial<MachineRecord> = {}): MachineRecord {
  return { ...freshRecord(7, "Bay 7", 10, NOW - 1000), online: true, ...patch };
}

function cmd(body: Record<string, unknown>): MachineCommand {
  return {
    correlation_id: "c",
    origin: "kiosk",
    sent_at: NOW,
    machine_id: 7,
    ...body,
  } as MachineCommand;
}

Deno.test("applyCommand() activate starts a session, bumps the version and arms the timer", () => {
  const t = applyCommand(
    bay(),
    cmd({ action: "activate", duration_s: 900, amount_cents: 500 }),
    NOW,
    opts,
  );
  assert.equal(t.next.desired_version, 2);
  assert.deepEqual(t.next.session, {
    session_id: "s-gen",
    origin: "kiosk",
    started_at: NOW,
    paid_s: 900,
    paid_until: NOW + 900_000,
    remaining_ms: null,
    amount_cents: 500,
    group_id: null,
  });
  assert.deepEqual(t.timer, [{ session_id: "s-gen", op: "start", duration_ms: 900_000 }]);
  assert.deepEqual(t.sessions.map((s) => s.kind), ["start"]);
  assert.equal(statusOf(t.next, NOW), "active");
});

Deno.test("applyCommand() forced activate ends the running session with a recorded reason", () => {
  const first =
    applyCommand(bay(), cmd({ action: "activate", duration_s: 600, session_id: "a" }), NOW, opts)
      .next;
  const t = applyCommand(
    first,
    cmd({ action: "activate", duration_s: 600, session_id: "b", origin: "admin", force: true }),
    NOW + 60_000,
    { ...opts, forced: true },
  );
  const end = t.sessions[0];
  assert.equal(end.kind, "end");
  assert.equal(end.kind === "end" && end.used_s, 60);
  assert.match(end.kind === "end" ? end.end_reason : "", /forced by admin/);
  assert.deepEqual(t.timer.map((o) => [o.session_id, o.op]), [["a", "cancel"], ["b", "start"]]);
  assert.equal(t.next.session?.session_id, "b");
});

Deno.test("applyCommand() pause keeps the remaining time; extend adds to it; resume restarts the clock", () => {
  const on = applyCommand(bay(), cmd({ action: "activate", duration_s: 600 }), NOW, opts).next;
  const p = applyCommand(on, cmd({ action: "pause" }), NOW + 100_000, opts).next;
  assert.deepEqual([p.session?.paid_until, p.session?.remaining_ms], [null, 500_000]);
  assert.equal(statusOf(p, NOW), "paused");
  const x = applyCommand(
    p,
    cmd({ action: "extend", add_s: 60, amount_cents: 100 }),
    NOW + 200_000,
    opts,
  );
  assert.equal(x.next.session?.remaining_ms, 560_000);
  assert.equal(x.next.session?.paid_s, 660);
  assert.deepEqual(x.timer, [{ session_id: "s-gen", op: "extend", add_ms: 60_000 }]);
  const r = applyCommand(x.next, cmd({ action: "resume" }), NOW + 300_000, opts).next;
  assert.deepEqual([r.session?.paid_until, r.session?.remaining_ms], [NOW + 860_000, null]);
  const ds = desiredState(r, NOW + 310_000);
  assert.deepEqual([ds.dispense, ds.remaining_s, ds.deadline], [true, 550, NOW + 860_000]);
});

Deno.test("applyCommand() maintenance, hold and release", () => {
  const m = applyCommand(bay(), cmd({ action: "maintenance_on", reason: "net" }), NOW, opts).next;
  assert.equal(toMachineState(m, NOW).reason, "net");
  assert.deepEqual(desiredState(m, NOW), {
    version: 2,
    status: "maintenance",
    dispense: false,
    session_id: null,
    deadline: null,
    remaining_s: null,
  });
  const off = applyCommand(m, cmd({ action: "maintenance_off" }), NOW, opts).next;
  assert.equal(statusOf(off, NOW), "available");
  const held = applyCommand(off, cmd({ action: "hold", hold_id: "h", hold_s: 60 }), NOW, opts).next;
  assert.equal(statusOf(held, NOW), "reserved");
  assert.equal(statusOf(held, NOW + 60_000), "available", "a lapsed hold no longer counts");
  assert.equal(
    applyCommand(held, cmd({ action: "release", hold_id: "h" }), NOW, opts).next.hold,
    null,
  );
  assert.equal(lapseHold(held, NOW + 60_000).next.hold, null);
});

Deno.test("expireSession() cancels the timer only when the handler's backstop ended it", () => {
  const on = applyCommand(bay(), cmd({ action: "activate", duration_s: 600 }), NOW, opts).next;
  const byTimer = expireSession(on, NOW + 600_000, "timer");
  assert.deepEqual(byTimer.timer, []);
  assert.equal(byTimer.sessions[0].kind === "end" && byTimer.sessions[0].used_s, 600);
  assert.deepEqual(expireSession(on, NOW + 605_000, "machine_handler").timer, [
    { session_id: "s-gen", op: "cancel" },
  ]);
});

Deno.test("statusOf() orders maintenance, error, session, hold and connectivity", () => {
  const s = {
    session:
      applyCommand(bay(), cmd({ action: "activate", duration_s: 600 }), NOW, opts).next.session,
  };
  assert.equal(statusOf(bay({ maintenance_reason: "x", fault: "jam" }), NOW), "maintenance");
  assert.equal(statusOf(bay({ ...s, fault: "jam" }), NOW), "error");
  assert.equal(statusOf(bay({ ...s, online: false }), NOW), "active");
  assert.equal(statusOf(bay({ online: false }), NOW), "offline");
  assert.equal(
    toMachineState(bay({ link_error: "dispenser did not acknowledge" }), NOW).reason,
    "dispenser did not acknowledge",
  );
  assert.equal(toMachineState(bay({ fault: "jam" }), NOW).reason, "dispenser reports a fault: jam");
});

Deno.test("fingerprint() ignores correlation id, time and key, and key order", () => {
  const a = cmd({ action: "extend", add_s: 60, idempotency_key: "k1" });
  const b = { ...cmd({ add_s: 60, action: "extend" }), correlation_id: "other", sent_at: 1 };
  assert.equal(fingerprint(a), fingerprint(b));
  assert.notEqual(fingerprint(a), fingerprint(cmd({ action: "extend", add_s: 120 })));
  assert.notEqual(fingerprint(a), fingerprint({ ...b, origin: "admin" }));
  assert.equal(canonicalJson({ b: 1, a: [1, { d: 2, c: undefined }] }), '{"a":[1,{"d":2}],"b":1}');
});

Deno.test("DuplicateFilter: in-flight duplicates wait for the first outcome; the window expires", async () => {
  const f = new DuplicateFilter({ windowMs: 1_000, keyTtlMs: 5_000 });
  const c = cmd({ action: "pause" });
  const first = f.check(c, NOW);
  assert.equal(first.kind, "new");
  const dup = f.check({ ...c, correlation_id: "c2" }, NOW + 10);
  assert.equal(dup.kind, "duplicate");
  if (first.kind === "new") first.settle({ status: "ok", data: 1 });
  assert.deepEqual(dup.kind === "duplicate" && await dup.outcome, { status: "ok", data: 1 });
  assert.equal(f.check(c, NOW + 999).kind, "duplicate");
  assert.equal(f.check(c, NOW + 1_000).kind, "new");
});

Deno.test("DuplicateFilter: keys live for keyTtlMs; a reused key with other content is reported", () => {
  const f = new DuplicateFilter({ windowMs: 0, keyTtlMs: 5_000 });
  const c = cmd({ action: "pause", idempotency_key: "k" });
  const first = f.check(c, NOW);
  if (first.kind === "new") first.settle({ status: "ok", data: null });
  assert.equal(f.check(c, NOW + 4_999).kind, "duplicate");
  assert.deepEqual(f.check(cmd({ action: "resume", idempotency_key: "k" }), NOW + 1), {
    kind: "key_reused",
    key: "k",
  });
  assert.equal(f.check(c, NOW + 5_000).kind, "new");
  // A command that failed internally is forgotten, so a retry runs.
  const g = new DuplicateFilter({ windowMs: 1_000, keyTtlMs: 1_000 });
  const x = g.check(cmd({ action: "pause" }), NOW);
  if (x.kind === "new") x.forget();
  assert.equal(g.check(cmd({ action: "pause" }), NOW).kind, "new");
});

Deno.test("DuplicateFilter.seed() rebuilds keys and fingerprints from the ledger", async () => {
  const f = new DuplicateFilter({ windowMs: 1_000, keyTtlMs: 10_000 });
  const c = cmd({ action: "pause", idempotency_key: "k" });
  f.seed({ idempotency_key: "k", fingerprint: fingerprint(c) }, NOW, { status: "ok", data: 7 });
  const d = f.check(c, NOW + 5);
  assert.deepEqual(d.kind === "duplicate" && await d.outcome, { status: "ok", data: 7 });
  const n = cmd({ action: "resume" });
  f.seed({ idempotency_key: null, fingerprint: fingerprint(n) }, NOW, { status: "ok", data: 8 });
  assert.equal(f.check(n, NOW + 500).kind, "duplicate");
});

Deno.test("KeyedQueue runs tasks of one key in order, other keys independently", async () => {
  const q = new KeyedQueue<number>();
  const log: string[] = [];
  const gate = Promise.withResolvers<void>();
  const a = q.run(1, async () => {
    await gate.promise;
    log.push("1a");
  });
  const b = q.run(1, () => {
    log.push("1b");
    return Promise.reject(new Error("boom"));
  });
  const c = q.run(1, () => Promise.resolve(log.push("1c")));
  await q.run(2, () => Promise.resolve(log.push("2a")));
  assert.deepEqual(log, ["2a"]);
  gate.resolve();
  await a;
  await assert.rejects(b, /boom/);
  await c;
  assert.deepEqual(log, ["2a", "1a", "1b", "1c"]);
  await q.idle();
  assert.equal(q.busy, 0);
});

Deno.test("parseHandlerConfig() names the bad field", () => {
  assert.throws(
    () => parseHandlerConfig({ machines: [{ id: 1 }, { id: 1 }], handler: { ack_retries: -1 } }),
    (err: unknown) =>
      err instanceof ConfigError && /machines: machine ids must be unique/.test(err.message) &&
      /handler\.ack_retries: /.test(err.message),
  );
  assert.throws(() => parseHandlerConfig({ machines: [] }), /machines: /);
  const ok = parseHandlerConfig({ machines: [{ id: 3 }] });
  assert.deepEqual(ok.handler.staff_origins, ["admin"]);
});
