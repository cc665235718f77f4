/** `TimerService.submitBatch()`: `timer/set_batch` in one group commit, answered per operation. */
import assert from "node:assert/strict";
import { HandlerError } from "../../lib/errors.ts";
import { Reply } from "../../lib/rpc_server.ts";
import type { TimerBatchResult, TimerSetBatch, TimerSetItem } from "../../protocol/timer.ts";
import { countTransactions, onDisk, Proc } from "./harness.ts";

function batch(p: Proc, ops: TimerSetItem[]): Promise<TimerBatchResult> {
  const req: TimerSetBatch = {
    correlation_id: `b-${crypto.randomUUID()}`,
    origin: "machine_handler",
    sent_at: p.clock.now(),
    ops,
  };
  return p.service.submitBatch(req);
}

Deno.test("TimerService.submitBatch() answers mixed ok and refused operations in order, in one commit", async () => {
  const p = await Proc.create();
  try {
    const tx = countTransactions(p.store);
    const before = p.service.groupCommitStats.commits;
    const { results } = await batch(p, [
      { correlation_id: "i-1", machine_id: 1, session_id: "a", op: "start", duration_ms: 60_000 },
      { correlation_id: "i-2", machine_id: 2, session_id: "nobody", op: "pause" },
      { correlation_id: "i-3", machine_id: 1, session_id: "a", op: "extend", add_ms: 30_000 },
      { correlation_id: "i-4", machine_id: 9, session_id: "a", op: "cancel" },
      { correlation_id: "i-5", machine_id: 3, session_id: "c", op: "start", duration_ms: 20_000 },
      { correlation_id: "i-6", machine_id: 3, session_id: "c", op: "pause" },
    ]);
    assert.deepEqual(results.map((r) => r.correlation_id), [
      "i-1",
      "i-2",
      "i-3",
      "i-4",
      "i-5",
      "i-6",
    ]);
    assert.deepEqual(results.map((r) => r.status === "ok" ? r.data.state : r.error.code), [
      "running",
      "stale_session",
      "running",
      "conflict",
      "running",
      "paused",
    ]);
    const ext = results[2];
    assert.ok(ext.status === "ok");
    assert.equal(ext.data.remaining_ms, 90_000, "later operations see earlier ones of the batch");
    const refused = results[1];
    assert.ok(refused.status === "error");
    assert.match(refused.error.message, /does not know/);
    assert.equal(tx.n, 1, "one transaction for the whole batch");
    assert.equal(p.service.groupCommitStats.commits, before + 1);
    // Answered only after the commit: another connection sees every accepted change.
    assert.equal(onDisk(p, "a")?.paid_ms, 90_000);
    assert.equal(onDisk(p, "c")?.state, "paused");
    assert.equal(onDisk(p, "nobody"), undefined);
  } finally {
    await p.dispose();
  }
});

Deno.test("TimerService.submitBatch() commits with timer/set operations of the same turn", async () => {
  const p = await Proc.create();
  try {
    const tx = countTransactions(p.store);
    const [single, b] = await Promise.all([
      p.service.submit({
        correlation_id: "s-1",
        origin: "kiosk",
        sent_at: p.clock.now(),
        machine_id: 4,
        session_id: "d",
        op: "start",
        duration_ms: 10_000,
      }),
      batch(p, [
        { correlation_id: "i-1", machine_id: 5, session_id: "e", op: "start", duration_ms: 5_000 },
      ]),
    ]);
    assert.ok(!(single instanceof Reply) && single.state === "running");
    assert.equal(b.results[0].status, "ok");
    assert.equal(tx.n, 1);
    assert.equal(p.service.groupCommitStats.max_batch, 2);
  } finally {
    await p.dispose();
  }
});

Deno.test("TimerService.submitBatch() counts an extend retried with the same item correlation id once", async () => {
  const p = await Proc.create();
  try {
    await batch(p, [
      { correlation_id: "i-1", machine_id: 1, session_id: "a", op: "start", duration_ms: 60_000 },
    ]);
    const ext = {
      correlation_id: "x-1",
      machine_id: 1,
      session_id: "a",
      op: "extend",
      add_ms: 30_000,
    } as const;
    // Twice in one batch (the same operation queued again), then again in a later batch.
    const first = await batch(p, [ext, ext]);
    const again = await batch(p, [ext]);
    for (const r of [...first.results, ...again.results]) {
      assert.ok(r.status === "ok");
      assert.equal(r.data.remaining_ms, 90_000);
    }
    assert.equal(first.results[0].duplicate, undefined);
    assert.equal(first.results[1].duplicate, true);
    assert.equal(again.results[0].duplicate, true);
    assert.equal(onDisk(p, "a")?.paid_ms, 90_000, "counted once");
    // The same item correlation id on another session is a conflict for that item alone.
    const other = await batch(p, [
      { ...ext, session_id: "b" },
      { correlation_id: "x-2", machine_id: 1, session_id: "a", op: "extend", add_ms: 1_000 },
    ]);
    assert.deepEqual(other.results.map((r) => r.status === "ok" ? "ok" : r.error.code), [
      "conflict",
      "ok",
    ]);
    assert.equal(onDisk(p, "a")?.paid_ms, 91_000);
  } finally {
    await p.dispose();
  }
});

Deno.test("TimerService.submitBatch() fails as a whole, undone, when its commit fails", async () => {
  const p = await Proc.create();
  try {
    await batch(p, [
      { correlation_id: "i-1", machine_id: 1, session_id: "a", op: "start", duration_ms: 60_000 },
    ]);
    const original = p.store.transaction.bind(p.store);
    p.store.transaction = () => {
      throw new Error("disk I/O error");
    };
    const ops: TimerSetItem[] = [
      { correlation_id: "i-2", machine_id: 1, session_id: "a", op: "cancel" },
      { correlation_id: "i-3", machine_id: 2, session_id: "b", op: "start", duration_ms: 60_000 },
    ];
    await assert.rejects(batch(p, ops), /disk I\/O error/);
    assert.equal(p.service.get("a")?.state, "running", "the cancel is undone");
    assert.equal(p.service.get("b"), undefined, "the start is undone");
    p.store.transaction = original;
    const { results } = await batch(p, ops);
    assert.deepEqual(results.map((r) => r.status === "ok" && r.data.state), [
      "cancelled",
      "running",
    ]);
    assert.equal(onDisk(p, "b")?.state, "running");
  } finally {
    await p.dispose();
  }
});

Deno.test("TimerService.submitBatch() refuses the whole request while not running", async () => {
  const p = await Proc.create();
  try {
    p.service.stop();
    await assert.rejects(
      batch(p, [{ correlation_id: "i-1", machine_id: 1, session_id: "a", op: "pause" }]),
      (err) => err instanceof HandlerError && err.code === "unavailable",
    );
  } finally {
    await p.dispose();
  }
});

Deno.test("TimerService.submitBatch() arms the wake-up for the earliest deadline once its operations are applied", async () => {
  const p = await Proc.create([]);
  try {
    // Nothing is armed before: only the wake-up set at the end of the batch can fire these.
    const { results } = await batch(p, [
      { correlation_id: "s-1", machine_id: 1, session_id: "b", op: "start", duration_ms: 5_000 },
      { correlation_id: "s-2", machine_id: 2, session_id: "c", op: "start", duration_ms: 2_000 },
      { correlation_id: "s-3", machine_id: 3, session_id: "d", op: "start", duration_ms: 1_000 },
      { correlation_id: "s-4", machine_id: 3, session_id: "d", op: "cancel" },
    ]);
    assert.deepEqual(results.map((r) => r.status), ["ok", "ok", "ok", "ok"]);
    p.clock.advance(1_999);
    assert.deepEqual(p.attempts.map((a) => a.request.session_id), []);
    p.clock.advance(1);
    assert.deepEqual(p.attempts.map((a) => a.request.session_id), ["c"]);
    p.clock.advance(3_000);
    assert.deepEqual(p.attempts.map((a) => a.request.session_id), ["c", "b"]);
  } finally {
    await p.dispose();
  }
});
