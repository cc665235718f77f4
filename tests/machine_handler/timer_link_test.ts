/**
 * `TimerLink` over a real broker, with a scripted stand-in for the timer that records every
 * request: batching, per-operation results, retries and per-bay order.
 */
import assert from "node:assert/strict";
import { systemClock } from "../../lib/clock.ts";
import { MqttAdapter } from "../../lib/mqtt_adapter.ts";
import { RpcClient } from "../../lib/rpc_client.ts";
import { type TimerAnswer, TimerLink } from "../../actors/machine_handler/timer_link.ts";
import type { TimerOp } from "../../actors/machine_handler/transitions.ts";
import type { ErrorBody, ResponseOf } from "../../protocol/common.ts";
import {
  type TimerBatchItemResult,
  type TimerBatchResult,
  TimerSetBatch,
  type TimerSetItem,
} from "../../protocol/timer.ts";
import { topics } from "../../protocol/topics.ts";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { waitFor } from "../helpers/wait.ts";
import { quiet } from "./harness.ts";

/** How the stand-in answers one batch: per-operation results, a whole-request error, or nothing. */
type Script = (req: TimerSetBatch, n: number) => "silent" | ErrorBody | TimerBatchItemResult[];

function ok(item: TimerSetItem): TimerBatchItemResult {
  return {
    correlation_id: item.correlation_id,
    status: "ok",
    data: {
      machine_id: item.machine_id,
      session_id: item.session_id,
      state: item.op === "pause" ? "paused" : item.op === "cancel" ? "cancelled" : "running",
      remaining_ms: 60_000,
      deadline: null,
    },
  };
}

const answerAll: Script = (req) => req.ops.map(ok);

interface Rig {
  link: TimerLink;
  /** Every `timer/set_batch` request, in arrival order. */
  batches: TimerSetBatch[];
  /** Messages on `timer/set` (the link must send none). */
  singles: number;
  unanswered: Array<[number, TimerOp]>;
  recovered: Array<[number, TimerOp, number]>;
  script: Script;
  close(): Promise<void>;
}

async function rig(
  broker: TestBroker,
  o: { maxBatchOps?: number; maxBatchBytes?: number; script?: Script } = {},
): Promise<Rig> {
  const tag = crypto.randomUUID().slice(0, 6);
  const timerMqtt = new MqttAdapter({ url: broker.url, clientId: `timer-${tag}`, logger: quiet });
  const handlerMqtt = new MqttAdapter({ url: broker.url, clientId: `mh-${tag}`, logger: quiet });
  await timerMqtt.connect();
  await handlerMqtt.connect();
  const rpc = new RpcClient(handlerMqtt, "machine_handler", { logger: quiet });
  await rpc.start();
  const r: Rig = {
    link: null as unknown as TimerLink,
    batches: [],
    singles: 0,
    unanswered: [],
    recovered: [],
    script: o.script ?? answerAll,
    close: async () => {
      r.link.stop();
      rpc.close();
      await handlerMqtt.close();
      await timerMqtt.close();
    },
  };
  await timerMqtt.subscribe(topics.timerSet, () => r.singles++);
  await timerMqtt.subscribe(topics.timerSetBatch, (_t, payload) => {
    const raw = JSON.parse(new TextDecoder().decode(payload));
    // Recorded as sent; an invalid request is refused as a whole, as the timer's RpcServer does.
    r.batches.push(raw);
    const parsed = TimerSetBatch.safeParse(raw);
    const out = parsed.success
      ? r.script(parsed.data, r.batches.length)
      : { code: "invalid_payload" as const, message: "Invalid timer/set_batch request" };
    const req = raw as TimerSetBatch;
    if (out === "silent") return;
    const reply: ResponseOf<TimerBatchResult> = Array.isArray(out)
      ? { correlation_id: req.correlation_id, status: "ok", data: { results: out } }
      : { correlation_id: req.correlation_id, status: "error", error: out };
    timerMqtt.publish(topics.timerResponses(req.origin), JSON.stringify(reply));
  });
  r.link = new TimerLink({
    rpc,
    clock: systemClock,
    log: quiet,
    timeoutMs: 150,
    maxBackoffMs: 300,
    maxBatchOps: o.maxBatchOps,
    maxBatchBytes: o.maxBatchBytes,
    onUnanswered: (id, op) => r.unanswered.push([id, op]),
    onRecovered: (id, op, attempts) => r.recovered.push([id, op, attempts]),
  });
  return r;
}

const start = (session: string): TimerOp => ({
  session_id: session,
  op: "start",
  duration_ms: 60_000,
});

function state(a: TimerAnswer): string {
  assert.equal(a.kind, "ok", `expected an ok answer, got ${JSON.stringify(a)}`);
  return a.kind === "ok" ? a.state.state : "";
}

Deno.test("TimerLink.send() sends the operations of one turn in one timer/set_batch request", async () => {
  await using broker = await startBroker();
  const r = await rig(broker);
  try {
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) => r.link.send(i + 1, start(`s-${i + 1}`), `t-${i + 1}`)),
    );
    assert.equal(r.batches.length, 1, "one request for the whole turn");
    assert.equal(r.singles, 0, "no timer/set");
    const [b] = r.batches;
    assert.deepEqual(b.ops.map((op) => op.correlation_id), answers.map((_, i) => `t-${i + 1}`));
    assert.ok(!b.ops.some((op) => op.correlation_id === b.correlation_id), "own request id");
    answers.forEach((a, i) => {
      assert.equal(state(a), "running");
      assert.equal(a.kind === "ok" && a.state.session_id, `s-${i + 1}`);
    });
    assert.deepEqual(r.link.stats, { sent: 40, retries: 0, unanswered: 0, refused: 0, batches: 1 });
    // The next turn's operations go in the next request.
    await Promise.all([r.link.send(1, { session_id: "s-1", op: "pause" }, "t-p")]);
    assert.equal(r.batches.length, 2);
  } finally {
    await r.close();
  }
});

Deno.test("TimerLink.send() cuts a turn's batch at maxBatchOps and maxBatchBytes", async () => {
  await using broker = await startBroker();
  const sendAll = async (r: Rig) => {
    try {
      const answers = await Promise.all(
        Array.from({ length: 40 }, (_, i) => r.link.send(i + 1, start(`s-${i}`), `t-${i}`)),
      );
      for (const a of answers) assert.equal(state(a), "running");
      return r.batches;
    } finally {
      await r.close();
    }
  };
  const byCount = await sendAll(await rig(broker, { maxBatchOps: 16 }));
  assert.deepEqual(byCount.map((x) => x.ops.length), [16, 16, 8]);
  const byBytes = await sendAll(await rig(broker, { maxBatchBytes: 1_024 }));
  assert.ok(byBytes.length > 1);
  for (const x of byBytes) {
    const bytes = new TextEncoder().encode(JSON.stringify(x.ops)).length;
    assert.ok(bytes <= 1_024, `a batch of ${bytes} bytes of operations`);
  }
  assert.deepEqual(byBytes.flatMap((x) => x.ops).map((op) => op.correlation_id), [
    ...Array.from({ length: 40 }, (_, i) => `t-${i}`),
  ]);
});

Deno.test("TimerLink.send() retries the operations of an unanswered batch until answered", async () => {
  await using broker = await startBroker();
  let answering = false;
  const r = await rig(broker, { script: (req) => answering ? answerAll(req, 0) : "silent" });
  try {
    const ops = [1, 2, 3].map((id) => r.link.send(id, start(`s-${id}`), `t-${id}`));
    await waitFor(() => r.batches.length >= 2, { message: "a retried batch" });
    assert.equal(r.link.retrying, 3);
    assert.deepEqual(r.unanswered.map(([id]) => id).sort(), [1, 2, 3], "alerted once each");
    answering = true;
    const answers = await Promise.all(ops);
    for (const a of answers) assert.equal(state(a), "running");
    // Every attempt carried the operations' own correlation ids, in fresh requests.
    for (const b of r.batches) {
      assert.deepEqual(b.ops.map((op) => op.correlation_id).sort(), ["t-1", "t-2", "t-3"]);
    }
    assert.equal(new Set(r.batches.map((b) => b.correlation_id)).size, r.batches.length);
    assert.equal(r.unanswered.length, 3);
    assert.equal(r.recovered.length, 3);
    assert.ok(r.recovered.every(([, , attempts]) => attempts === r.batches.length));
    assert.equal(r.link.retrying, 0);
    assert.equal(r.link.stats.batches, r.batches.length);
    assert.equal(r.link.stats.sent, 3 * r.batches.length);
  } finally {
    await r.close();
  }
});

Deno.test("TimerLink.send() retries the operations of a batch the timer could not commit", async () => {
  await using broker = await startBroker();
  const r = await rig(broker, {
    script: (req, n) =>
      n === 1 ? { code: "internal", message: "disk I/O error" } : answerAll(req, n),
  });
  try {
    const answers = await Promise.all(
      [1, 2].map((id) => r.link.send(id, start(`s-${id}`), `t-${id}`)),
    );
    for (const a of answers) assert.equal(state(a), "running");
    assert.equal(r.batches.length, 2);
    assert.equal(r.link.stats.refused, 0);
    assert.equal(r.link.stats.unanswered, 2);
  } finally {
    await r.close();
  }
});

Deno.test("TimerLink.send() keeps each bay's operations in order, across batches and retries", async () => {
  await using broker = await startBroker();
  const r = await rig(broker, { script: (req, n) => n === 1 ? "silent" : answerAll(req, n) });
  try {
    const bay1: TimerOp[] = [
      start("a"),
      { session_id: "a", op: "pause" },
      { session_id: "a", op: "resume" },
      { session_id: "a", op: "cancel" },
    ];
    const sends = [
      ...bay1.map((op, i) => r.link.send(1, op, `a-${i}`)),
      r.link.send(2, start("b"), "b-0"),
      r.link.send(3, start("c"), "c-0"),
    ];
    const answers = await Promise.all(sends);
    assert.deepEqual(answers.map(state), [
      "running",
      "paused",
      "running",
      "cancelled",
      "running",
      "running",
    ]);
    // The first batch (lost) held the first operation of every bay; each later operation of
    // bay 1 went out only after the one before it was answered, in a later request.
    assert.deepEqual(r.batches[0].ops.map((op) => op.correlation_id), ["a-0", "b-0", "c-0"]);
    const firstSeen = (cid: string) =>
      r.batches.findIndex((b) => b.ops.some((op) => op.correlation_id === cid));
    const order = bay1.map((_, i) => firstSeen(`a-${i}`));
    assert.deepEqual(order, [...order].sort((x, y) => x - y));
    assert.equal(new Set(order).size, 4, "one operation of bay 1 per request");
    for (const b of r.batches) {
      assert.ok(b.ops.filter((op) => op.machine_id === 1).length <= 1);
    }
  } finally {
    await r.close();
  }
});

Deno.test("TimerLink.send() refuses one operation without affecting the others", async () => {
  await using broker = await startBroker();
  const r = await rig(broker, {
    script: (req) =>
      req.ops.map((op) =>
        op.session_id === "gone"
          ? {
            correlation_id: op.correlation_id,
            status: "error",
            error: { code: "stale_session", message: "the timer does not know it" },
          }
          : ok(op)
      ),
  });
  try {
    const answers = await Promise.all([
      r.link.send(1, start("s-1"), "t-1"),
      r.link.send(2, { session_id: "gone", op: "pause" }, "t-2"),
      r.link.send(3, start("s-3"), "t-3"),
    ]);
    assert.equal(state(answers[0]), "running");
    assert.deepEqual(answers[1], { kind: "refused", message: "the timer does not know it" });
    assert.equal(state(answers[2]), "running");
    assert.equal(r.batches.length, 1, "a refusal is an answer: nothing is retried");
    assert.equal(r.link.stats.refused, 1);
    assert.equal(r.unanswered.length, 0);
  } finally {
    await r.close();
  }
});

Deno.test("TimerLink.send() sends each operation alone when the timer refuses a whole batch", async () => {
  await using broker = await startBroker();
  const r = await rig(broker);
  try {
    const answers = await Promise.all([
      r.link.send(1, start("s-1"), "t-1"),
      // Malformed (extend without add_ms): sent unchecked, so the timer refuses the request.
      r.link.send(2, { session_id: "bad", op: "extend" }, "t-2"),
      r.link.send(3, start("s-3"), "t-3"),
    ]);
    assert.equal(state(answers[0]), "running");
    assert.equal(answers[1].kind, "refused");
    assert.equal(state(answers[2]), "running");
    assert.deepEqual(r.batches.map((b) => b.ops.length), [3, 1, 1, 1]);
    assert.equal(r.link.stats.refused, 1);
    assert.equal(r.unanswered.length, 0);
  } finally {
    await r.close();
  }
});

Deno.test("TimerLink.stop() resolves queued and unanswered operations as stopped", async () => {
  await using broker = await startBroker();
  const r = await rig(broker, { script: () => "silent" });
  try {
    const sent = [1, 2].map((id) => r.link.send(id, start(`s-${id}`), `t-${id}`));
    await waitFor(() => r.unanswered.length === 2, { message: "unanswered" });
    const queued = r.link.send(3, start("s-3"), "t-3");
    r.link.stop();
    assert.deepEqual(await Promise.all([...sent, queued]), [
      { kind: "stopped" },
      { kind: "stopped" },
      { kind: "stopped" },
    ]);
    assert.equal(r.link.retrying, 0);
  } finally {
    await r.close();
  }
});
