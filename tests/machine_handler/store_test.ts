/**
 * The handler's SQLite store (group commit, restart) and the read-only queries the web uses.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { LedgerUnavailableError, openLedgerReader } from "../../actors/machine_handler/queries.ts";
import { freshRecord } from "../../actors/machine_handler/machine_record.ts";
import { HandlerStore, type LedgerInsert } from "../../actors/machine_handler/store.ts";
import type { Session } from "../../protocol/machine.ts";

const T = Date.UTC(2026, 11, 3, 22, 30, 0); // 23:30 in Berlin

function row(i: number, patch: Partial<LedgerInsert> = {}): LedgerInsert {
  return {
    received_at: T + i,
    machine_id: (i % 3) + 1,
    origin: i % 2 ? "admin" : "kiosk",
    action: i % 2 ? "deactivate" : "activate",
    correlation_id: `c-${i}`,
    idempotency_key: null,
    fingerprint: `f-${i}`,
    payload: { i },
    outcome: "ok",
    response: { status: "ok", data: i },
    replied_at: T + i,
    ...patch,
  };
}

function session(id: string, started_at: number, paid_s: number): Session {
  return {
    session_id: id,
    origin: "kiosk",
    started_at,
    paid_s,
    paid_until: started_at + paid_s * 1000,
    remaining_ms: null,
    amount_cents: paid_s / 6,
    group_id: null,
  };
}

Deno.test("HandlerStore.commit() writes everything queued in one turn in one transaction", async () => {
  const dir = await Deno.makeTempDir();
  const store = await HandlerStore.open(dir);
  try {
    const waits: Promise<void>[] = [];
    for (let i = 0; i < 200; i++) {
      store.appendLedger(row(i));
      store.putRecord(freshRecord((i % 50) + 1, `Bay ${(i % 50) + 1}`, 10, T));
      waits.push(store.commit());
    }
    await Promise.all(waits);
    assert.equal(store.stats.commits, 1);
    assert.equal(store.stats.writes, 250, "200 ledger rows and the latest record of 50 bays");
    await store.commit(); // nothing queued: resolves at once
    assert.equal(store.stats.commits, 1);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("HandlerStore after a restart: committed records, sessions and pending ledger rows", async () => {
  const dir = await Deno.makeTempDir();
  try {
    let store = await HandlerStore.open(dir);
    const r = { ...freshRecord(4, "Bay 4", 10, T), desired_version: 9, online: true };
    store.putRecord(r);
    const s = session("s-1", T, 600);
    store.writeSession({ kind: "start", machine_id: 4, session: s });
    assert.deepEqual(store.knownSession("s-1"), { machine_id: 4, ended_at: null }, "before commit");
    const seq = store.appendLedger(row(1, { outcome: "pending", response: undefined }));
    store.appendLedger(row(2));
    await store.commit();
    await store.close();

    store = await HandlerStore.open(dir);
    assert.deepEqual(store.loadRecords(), [r]);
    assert.deepEqual(store.knownSession("s-1"), { machine_id: 4, ended_at: null });
    assert.equal(store.knownSession("nope"), null);
    assert.deepEqual(store.pendingLedger(), [
      { seq, machine_id: 2, action: "deactivate", forced: false },
    ]);
    store.settleLedger(seq, {
      outcome: "interrupted",
      code: null,
      reason: "x",
      response: { status: "ok", data: 1 },
      replied_at: T,
    });
    store.writeSession({
      kind: "end",
      machine_id: 4,
      session: s,
      ended_at: T + 60_000,
      used_s: 60,
      end_reason: "done",
      ended_by: "kiosk",
    });
    await store.commit();
    assert.deepEqual(store.pendingLedger(), []);
    assert.deepEqual(store.knownSession("s-1"), { machine_id: 4, ended_at: T + 60_000 });
    const recent = store.recentCommands(T);
    assert.deepEqual(recent.map((c) => c.fingerprint), ["f-1", "f-2"]);
    await store.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openLedgerReader().ledger() filters, newest first, and rejects bad limits", async () => {
  const dir = await Deno.makeTempDir();
  const store = await HandlerStore.open(dir);
  const reader = openLedgerReader(dir);
  try {
    for (let i = 0; i < 30; i++) {
      store.appendLedger(row(i, i === 7 ? { outcome: "conflict", forced: true } : {}));
    }
    store.appendLedger(row(30, { duplicate: true, outcome: "duplicate" }));
    await store.commit();
    const all = reader.ledger({ limit: 1000 });
    assert.equal(all.length, 31);
    assert.equal(all[0].correlation_id, "c-30", "newest first");
    assert.deepEqual(all[0].payload, { i: 30 });
    assert.equal(all[0].duplicate, true);
    assert.equal(reader.ledger().length, 31);
    assert.equal(reader.ledger({ limit: 5 }).length, 5);
    assert.deepEqual(
      reader.ledger({ outcome: "conflict" }).map((e) => [e.correlation_id, e.forced]),
      [["c-7", true]],
    );
    assert.ok(reader.ledger({ machine_id: 2 }).every((e) => e.machine_id === 2));
    assert.ok(reader.ledger({ origin: "admin", action: "deactivate" }).length === 15);
    assert.deepEqual(
      reader.ledger({ from: T + 10, to: T + 12 }).map((e) => e.correlation_id),
      ["c-11", "c-10"],
    );
    assert.throws(() => reader.ledger({ limit: 0 }), RangeError);
    assert.throws(() => reader.ledger({ from: -1 }), RangeError);
  } finally {
    reader.close();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openLedgerReader().usageByBayAndDay() sums sessions, minutes and money per bay and local day", async () => {
  const dir = await Deno.makeTempDir();
  const store = await HandlerStore.open(dir);
  try {
    const add = (s: Session, used?: number) => {
      store.writeSession({ kind: "start", machine_id: Number(s.session_id[1]), session: s });
      if (used !== undefined) {
        store.writeSession({
          kind: "end",
          machine_id: Number(s.session_id[1]),
          session: s,
          ended_at: s.started_at + used * 1000,
          used_s: used,
          end_reason: "x",
          ended_by: "timer",
        });
      }
    };
    add(session("b1-a", T, 1800), 1800); // 22:30 UTC = 23:30 Berlin, Dec 3
    add(session("b1-b", T + 3_600_000, 3600), 1200); // 23:30 UTC = 00:30 Berlin, Dec 4
    add(session("b2-a", T + 60_000, 600)); // still running
    await store.commit();
    const utc = openLedgerReader(dir, { timeZone: "UTC" });
    const berlin = openLedgerReader(dir, { timeZone: "Europe/Berlin" });
    try {
      const u = utc.usageByBayAndDay(T - 86_400_000, T + 86_400_000);
      assert.deepEqual(u, [
        {
          machine_id: 1,
          day: "2026-12-03",
          sessions: 2,
          minutes: 90,
          used_minutes: 50,
          amount_cents: 900,
        },
        {
          machine_id: 2,
          day: "2026-12-03",
          sessions: 1,
          minutes: 10,
          used_minutes: 10,
          amount_cents: 100,
        },
      ]);
      const b = berlin.usageByBayAndDay(T - 86_400_000, T + 86_400_000);
      assert.deepEqual(b.map((r) => [r.day, r.machine_id, r.sessions, r.minutes]), [
        ["2026-12-03", 1, 1, 30],
        ["2026-12-03", 2, 1, 10],
        ["2026-12-04", 1, 1, 60],
      ]);
      assert.deepEqual(utc.usageByBayAndDay(T + 1, T + 60_000), []);
      assert.deepEqual(utc.sessions({ from: T + 1 }).map((s) => s.session_id), ["b2-a", "b1-b"]);
    } finally {
      utc.close();
      berlin.close();
    }
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openLedgerReader() before the handler created its ledger throws LedgerUnavailableError on use", () => {
  const reader = openLedgerReader(join(Deno.makeTempDirSync(), "missing"));
  assert.throws(() => reader.ledger(), LedgerUnavailableError);
  reader.close();
});
