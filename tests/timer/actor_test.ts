/**
 * The timer actor in its Worker, under the supervisor, over a real broker, with an in-test
 * handler answering `timer/expired`.
 */
import assert from "node:assert/strict";
import { Supervisor } from "../../actors/runtime/supervisor.ts";
import { RpcRemoteError } from "../../lib/errors.ts";
import { topics } from "../../protocol/topics.ts";
import { startBroker } from "../helpers/broker.ts";
import { waitFor } from "../helpers/wait.ts";
import { FakeHandler } from "./fake_handler.ts";
import { quiet } from "./harness.ts";

const worker = new URL("../../actors/timer/worker.ts", import.meta.url);

Deno.test("timer actor serves timer/set and delivers expiries over the broker", async (t) => {
  await using broker = await startBroker();
  const dataDir = await Deno.makeTempDir({ prefix: "timer-actor-" });
  const sup = new Supervisor({
    mqttUrl: broker.url,
    dataDir,
    logger: quiet,
    pingIntervalMs: 50,
  });
  sup.add({
    name: "timer",
    url: worker,
    config: { warnings_s: [1], expiry_attempt_timeout_ms: 200 },
  });
  await sup.start();
  const h = await FakeHandler.connect(broker.url, false);
  const detail = () => sup.status()[0].detail as Record<string, number>;
  try {
    await t.step("an expiry not answered is retried until the handler answers", async () => {
      await h.set({ machine_id: 9, session_id: "r1", op: "start", duration_ms: 100 });
      await waitFor(() => detail().expiry_retries_total >= 2, { message: "two retries" });
      assert.equal(h.expired.length, 0);
      await h.answer();
      await waitFor(() => h.expired.length === 1, { message: "expiry answered" });
      assert.equal(h.expired[0].ended, true);
      await waitFor(() => detail().expiries_pending === 0, { message: "delivered" });
    });

    await t.step("sessions expire on time, measured against the reported deadline", async () => {
      h.expired.length = 0;
      const started = await Promise.all(
        [300, 400, 500].map((ms, i) =>
          h.set({ machine_id: i + 1, session_id: `on-time-${i}`, op: "start", duration_ms: ms })
        ),
      );
      for (const s of started) assert.equal(s.state, "running");
      await waitFor(() => h.expired.length === 3, { message: "3 expiries" });
      for (const r of h.expired) {
        const s = started.find((x) => x.session_id === r.request.session_id);
        assert.ok(s?.deadline);
        assert.equal(r.request.deadline >= s.deadline - 2, true);
        const late = r.wall - s.deadline;
        assert.ok(late >= -2 && late <= 100, `expiry ${late} ms after the deadline`);
        assert.equal(r.ended, true);
      }
    });

    await t.step("a stale expiry is ignored by the handler and not repeated", async () => {
      h.expired.length = 0;
      const before = detail().expiry_retries_total;
      await h.set({ machine_id: 5, session_id: "stale", op: "start", duration_ms: 150 });
      // The handler has moved on (e.g. staff ended the session and the cancel was lost).
      h.current.set(5, "newer");
      await waitFor(() => h.expired.length === 1, { message: "stale expiry" });
      assert.equal(h.expired[0].ended, false);
      await waitFor(() => detail().expiries_pending === 0, { message: "settled" });
      assert.equal(detail().expiry_retries_total, before);
      // The newer session on the same bay still gets all its time.
      const s = await h.set({ machine_id: 5, session_id: "newer2", op: "start", duration_ms: 200 });
      await waitFor(() => h.expired.length === 2, { message: "newer expiry" });
      assert.equal(h.expired[1].request.session_id, "newer2");
      assert.equal(h.expired[1].ended, true);
      assert.ok(h.expired[1].wall >= (s.deadline ?? 0) - 2);
    });

    await t.step("extend is deduplicated; unknown sessions are refused", async () => {
      const a = await h.set({ machine_id: 6, session_id: "ext", op: "start", duration_ms: 60_000 });
      const b = await h.set(
        { machine_id: 6, session_id: "ext", op: "extend", add_ms: 30_000 },
        "ext-cid",
      );
      assert.ok(b.remaining_ms > a.remaining_ms + 29_000);
      const again = await h.client.request(
        topics.timerSet,
        { machine_id: 6, session_id: "ext", op: "extend", add_ms: 30_000 },
        { correlationId: "ext-cid" },
      );
      assert.equal(again.status, "ok");
      assert.equal(again.duplicate, true);
      assert.ok(again.status === "ok" && again.data.remaining_ms <= b.remaining_ms);
      await assert.rejects(
        h.set({ machine_id: 6, session_id: "nobody", op: "pause" }),
        (err: unknown) => err instanceof RpcRemoteError && err.code === "stale_session",
      );
      const c = await h.set({ machine_id: 6, session_id: "ext", op: "cancel" });
      assert.equal(c.state, "cancelled");
    });

    await t.step("timer/set_batch answers each operation in one reply", async () => {
      const { results } = await h.client.call(topics.timerSetBatch, {
        ops: [
          {
            correlation_id: "b-1",
            machine_id: 8,
            session_id: "bat",
            op: "start",
            duration_ms: 60_000,
          },
          { correlation_id: "b-2", machine_id: 8, session_id: "nobody", op: "resume" },
          { correlation_id: "b-3", machine_id: 8, session_id: "bat", op: "extend", add_ms: 60_000 },
          { correlation_id: "b-3", machine_id: 8, session_id: "bat", op: "extend", add_ms: 60_000 },
        ],
      });
      assert.deepEqual(results.map((r) => r.correlation_id), ["b-1", "b-2", "b-3", "b-3"]);
      assert.deepEqual(results.map((r) => r.status === "ok" ? r.data.state : r.error.code), [
        "running",
        "stale_session",
        "running",
        "running",
      ]);
      const [, , first, repeat] = results;
      assert.ok(first.status === "ok" && repeat.status === "ok");
      assert.ok(first.data.remaining_ms > 119_000, "extended");
      assert.ok(repeat.duplicate && repeat.data.remaining_ms <= first.data.remaining_ms, "once");
      const c = await h.set({ machine_id: 8, session_id: "bat", op: "cancel" });
      assert.equal(c.state, "cancelled");
    });

    await t.step("warnings are published as timer/warning events", async () => {
      const s = await h.set({ machine_id: 7, session_id: "warn", op: "start", duration_ms: 1_300 });
      await waitFor(() => h.warnings.some((w) => w.session_id === "warn"), { message: "warning" });
      const w = h.warnings.find((x) => x.session_id === "warn");
      assert.equal(w?.remaining_s, 1);
      assert.equal(w?.machine_id, 7);
      assert.ok(Math.abs((w?.deadline ?? 0) - (s.deadline ?? 0)) <= 50);
      await waitFor(() => h.expired.some((x) => x.request.session_id === "warn"), {
        message: "expiry after warning",
      });
      assert.equal(h.warnings.filter((x) => x.session_id === "warn").length, 1);
      const d = detail();
      assert.equal(typeof d.timers_running, "number");
      assert.equal(typeof d.timers_paused, "number");
      await waitFor(() => detail().expiries_total >= 7, { message: "expiries in health" });
    });
  } finally {
    await h.close();
    await sup.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
});
