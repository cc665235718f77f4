import assert from "node:assert/strict";
import { HandlerError } from "../../lib/errors.ts";
import { GroupCommit } from "../../lib/group_commit.ts";
import { Reply } from "../../lib/rpc_server.ts";
import type { TimerSet, TimerState } from "../../protocol/timer.ts";
import { countTransactions, onDisk, Proc } from "./harness.ts";

function state(r: TimerState | Reply<TimerState>): TimerState {
  if (r instanceof Reply) {
    assert.equal(r.response.status, "ok");
    return (r.response as { data: TimerState }).data;
  }
  return r;
}

function submit(
  p: Proc,
  body: Omit<TimerSet, "correlation_id" | "origin" | "sent_at"> & { correlation_id?: string },
) {
  return p.service.submit({
    origin: "machine_handler",
    sent_at: p.clock.now(),
    correlation_id: body.correlation_id ?? crypto.randomUUID(),
    ...body,
  } as TimerSet);
}

Deno.test("GroupCommit.wait() commits once per event-loop turn and answers after it", async () => {
  const order: string[] = [];
  const g = new GroupCommit(() => order.push("commit"));
  const all = Promise.all([1, 2, 3].map((i) => g.wait().then(() => order.push(`w${i}`))));
  assert.deepEqual(order, [], "nothing is committed within the turn");
  await all;
  assert.deepEqual(order, ["commit", "w1", "w2", "w3"]);
  assert.deepEqual(g.stats, { commits: 1, max_batch: 3 });
  await g.wait();
  assert.deepEqual(g.stats, { commits: 2, max_batch: 3 });
});

Deno.test("GroupCommit.wait() rejects every waiter of a failed commit", async () => {
  let fail = true;
  const g = new GroupCommit(() => {
    if (fail) throw new Error("disk full");
  });
  const results = await Promise.allSettled([g.wait(), g.wait()]);
  assert.deepEqual(results.map((r) => r.status), ["rejected", "rejected"]);
  fail = false;
  await g.wait();
});

Deno.test("TimerService.submit() commits the operations of one turn in one transaction", async () => {
  const p = await Proc.create();
  try {
    const tx = countTransactions(p.store);
    const replies = await Promise.all([
      submit(p, { machine_id: 1, session_id: "a", op: "start", duration_ms: 60_000 }),
      submit(p, { machine_id: 2, session_id: "b", op: "start", duration_ms: 90_000 }),
      submit(p, { machine_id: 1, session_id: "a", op: "pause" }),
      submit(p, { machine_id: 2, session_id: "b", op: "extend", add_ms: 10_000 }),
      submit(p, { machine_id: 3, session_id: "c", op: "start", duration_ms: 30_000 }),
      submit(p, { machine_id: 3, session_id: "c", op: "cancel" }),
    ]);
    assert.equal(tx.n, 1, "one transaction for the whole turn");
    assert.deepEqual(replies.map((r) => state(r).state), [
      "running",
      "running",
      "paused",
      "running",
      "running",
      "cancelled",
    ]);
    assert.equal(p.service.groupCommitStats.max_batch, 6);
    // Each answer came after the commit: another connection sees every change.
    assert.equal(onDisk(p, "a")?.state, "paused");
    assert.equal(onDisk(p, "a")?.remaining_ms, 60_000);
    assert.equal(onDisk(p, "b")?.paid_ms, 100_000);
    assert.equal(onDisk(p, "c")?.state, "cancelled");
  } finally {
    await p.dispose();
  }
});

Deno.test("TimerService.submit() answers nothing before its change is on disk", async () => {
  const p = await Proc.create();
  try {
    const pending = submit(p, { machine_id: 1, session_id: "a", op: "start", duration_ms: 60_000 });
    let answered = false;
    pending.then(() => answered = true);
    // A repeat in the same turn changes nothing, but rests on the staged start.
    const again = submit(p, { machine_id: 1, session_id: "a", op: "start", duration_ms: 60_000 });
    await Promise.resolve();
    assert.equal(answered, false);
    assert.equal(onDisk(p, "a"), undefined, "not committed within the turn");
    assert.equal(state(await again).state, "running");
    assert.equal(answered, true);
    assert.equal(onDisk(p, "a")?.state, "running");
  } finally {
    await p.dispose();
  }
});

Deno.test("TimerService.submit() deduplicates an extend retried within the same batch", async () => {
  const p = await Proc.create();
  try {
    await submit(p, { machine_id: 1, session_id: "a", op: "start", duration_ms: 60_000 });
    const ext = { machine_id: 1, session_id: "a", op: "extend", add_ms: 30_000 } as const;
    const [first, retry] = await Promise.all([
      submit(p, { ...ext, correlation_id: "x-1" }),
      submit(p, { ...ext, correlation_id: "x-1" }),
    ]);
    assert.equal(state(first).remaining_ms, 90_000);
    assert.ok(retry instanceof Reply && retry.response.duplicate === true);
    assert.equal(onDisk(p, "a")?.paid_ms, 90_000, "counted once");
    await assert.rejects(
      submit(p, {
        machine_id: 1,
        session_id: "other",
        op: "extend",
        add_ms: 1,
        correlation_id: "x-1",
      }),
      (err) => err instanceof HandlerError && err.code === "conflict",
    );
  } finally {
    await p.dispose();
  }
});

Deno.test("TimerService.submit() undoes the whole batch in memory when its commit fails", async () => {
  const p = await Proc.create();
  try {
    await submit(p, { machine_id: 1, session_id: "a", op: "start", duration_ms: 60_000 });
    const original = p.store.transaction.bind(p.store);
    p.store.transaction = () => {
      throw new Error("disk I/O error");
    };
    const results = await Promise.allSettled([
      submit(p, { machine_id: 1, session_id: "a", op: "cancel" }),
      submit(p, { machine_id: 2, session_id: "b", op: "start", duration_ms: 60_000 }),
    ]);
    assert.deepEqual(results.map((r) => r.status), ["rejected", "rejected"]);
    assert.equal(p.service.get("a")?.state, "running", "the cancel is undone");
    assert.equal(p.service.get("b"), undefined, "the start is undone");
    p.store.transaction = original;
    // The handler retries; now it goes through.
    const s = state(await submit(p, { machine_id: 1, session_id: "a", op: "cancel" }));
    assert.equal(s.state, "cancelled");
    assert.equal(onDisk(p, "a")?.state, "cancelled");
  } finally {
    await p.dispose();
  }
});

Deno.test("TimerService.set() after submit() in the same turn keeps the writes in order", async () => {
  const p = await Proc.create();
  try {
    const staged = submit(p, { machine_id: 1, session_id: "a", op: "start", duration_ms: 60_000 });
    // A synchronous write (as at stop or a background flush) commits the staged batch first.
    state(p.set({ machine_id: 1, session_id: "a", op: "pause" }));
    assert.equal(onDisk(p, "a")?.state, "paused");
    assert.equal(state(await staged).state, "running");
    assert.equal(onDisk(p, "a")?.state, "paused");
  } finally {
    await p.dispose();
  }
});
