import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { type TimerRow, TimerStore, TimerStoreError } from "../../actors/timer/store.ts";

function row(
  session: string,
  state: TimerRow["state"],
  updated: number,
  delivered = true,
): TimerRow {
  return {
    session_id: session,
    machine_id: 1,
    state,
    remaining_ms: 1_234.5,
    paid_ms: 60_000,
    ck_boot_id: "b",
    ck_boot_ms: 99.25,
    ck_wall_ms: updated,
    warnings_done: [300],
    expiry_cid: state === "expired" ? "cid" : null,
    expired_deadline: state === "expired" ? updated : null,
    delivered,
    downtime_pending: false,
    created_wall: updated,
    updated_wall: updated,
  };
}

Deno.test("TimerStore keeps open timers and prunes finished ones and old extend ids", async () => {
  const dir = await Deno.makeTempDir({ prefix: "timer-store-" });
  const store = TimerStore.open(join(dir, "sub", "timer.db"));
  try {
    store.transaction(() => {
      store.put(row("run", "running", 1_000));
      store.put(row("old-cancel", "cancelled", 1_000));
      store.put(row("old-expired", "expired", 1_000));
      store.put(row("undelivered", "expired", 1_000, false));
      store.put(row("new-cancel", "cancelled", 9_000));
      store.recordExtend("x1", "run", 1_000);
      store.recordExtend("x2", "run", 9_000);
    });
    assert.deepEqual(store.get("run"), row("run", "running", 1_000), "round trip, fractions kept");
    assert.deepEqual(store.open().map((r) => r.session_id).sort(), ["run", "undelivered"]);
    assert.equal(store.prune(5_000, 5_000), 3);
    assert.equal(store.get("old-cancel"), undefined);
    assert.equal(store.get("old-expired"), undefined);
    assert.ok(store.get("undelivered"), "an expiry still to deliver is never pruned");
    assert.ok(store.get("new-cancel"));
    assert.equal(store.extendSeen("x1"), undefined);
    assert.equal(store.extendSeen("x2"), "run");
    assert.throws(() =>
      store.transaction(() => {
        store.put(row("rolled-back", "running", 1));
        throw new Error("boom");
      }), /boom/);
    assert.equal(store.get("rolled-back"), undefined, "a failed transaction leaves nothing");
  } finally {
    store.close();
  }
  const db = new DatabaseSync(join(dir, "sub", "timer.db"));
  assert.equal(db.prepare("PRAGMA journal_mode").get()?.journal_mode, "wal");
  db.prepare("UPDATE meta SET value = '99' WHERE key = 'schema_version'").run();
  db.close();
  assert.throws(() => TimerStore.open(join(dir, "sub", "timer.db")), TimerStoreError);
  await Deno.remove(dir, { recursive: true });
});
