import assert from "node:assert/strict";
import {
  DeviceAck,
  DeviceUpdate,
  MachineCommand,
  MachineState,
  responseOf,
  rpc,
  StatusData,
  StatusRequest,
  TimerBatchResult,
  TimerSet,
  TimerSetBatch,
  TimerSetItem,
  topics,
} from "../../protocol/mod.ts";

const env = { correlation_id: "c-1", origin: "kiosk", sent_at: 1_764_763_200_000 };

Deno.test("MachineCommand accepts every action with its parameters", () => {
  const ok = [
    { action: "activate", machine_id: 12, duration_s: 1800, amount_cents: 1500 },
    { action: "activate", machine_id: 12, duration_s: 3600, hold_id: "h-1", session_id: "s-1" },
    { action: "deactivate", machine_id: 3, reason: "customer left" },
    { action: "extend", machine_id: 3, add_s: 600 },
    { action: "pause", machine_id: 3 },
    { action: "resume", machine_id: 3, session_id: "s-9" },
    { action: "maintenance_on", machine_id: 3, reason: "jammed feeder", force: true },
    { action: "maintenance_off", machine_id: 3 },
    { action: "hold", machine_id: 3, hold_id: "h-2", hold_s: 120 },
    { action: "release", machine_id: 3, hold_id: "h-2" },
  ];
  for (const c of ok) {
    const r = MachineCommand.safeParse({ ...env, ...c });
    assert.ok(r.success, `${c.action}: ${r.success ? "" : r.error.message}`);
  }
});

Deno.test("MachineCommand rejects wrong types, ranges and unknown actions", () => {
  const bad = [
    { action: "activate", machine_id: 12 }, // no duration
    { action: "activate", machine_id: 12, duration_s: 10 }, // < 60 s
    { action: "activate", machine_id: 12, duration_s: "1800" }, // string
    { action: "activate", machine_id: 0, duration_s: 600 }, // id < 1
    { action: "activate", machine_id: 1.5, duration_s: 600 }, // not an integer
    { action: "explode", machine_id: 1 },
    { action: "maintenance_on", machine_id: 3 }, // reason required
    { action: "hold", machine_id: 3, hold_id: "h", hold_s: 5000 },
  ];
  for (const c of bad) {
    assert.equal(MachineCommand.safeParse({ ...env, ...c }).success, false, JSON.stringify(c));
  }
  // The envelope is required.
  assert.equal(MachineCommand.safeParse({ action: "pause", machine_id: 1 }).success, false);
  assert.equal(
    MachineCommand.safeParse({ ...env, origin: "Kiosk 1", action: "pause", machine_id: 1 }).success,
    false,
  );
});

Deno.test("responseOf() accepts ok with data or error with a known code, nothing else", () => {
  const R = responseOf(StatusData);
  assert.ok(R.safeParse({ correlation_id: "c", status: "ok", data: { machines: [] } }).success);
  assert.ok(
    R.safeParse({
      correlation_id: "c",
      status: "error",
      error: { code: "unknown_machine", message: "No bay 99" },
    }).success,
  );
  assert.equal(
    R.safeParse({ correlation_id: "c", status: "error", error: { code: "bogus", message: "x" } })
      .success,
    false,
  );
  assert.equal(R.safeParse({ correlation_id: "c", status: "ok" }).success, false);
  assert.equal(R.safeParse({ status: "ok", data: { machines: [] } }).success, false);
});

Deno.test("DeviceUpdate and DeviceAck follow the device protocol", () => {
  const update = {
    ...env,
    origin: "machine_handler",
    version: 7,
    status: "active",
    dispense: true,
    session_id: "s-1",
    deadline: env.sent_at + 1_800_000,
    remaining_s: 1800,
  };
  assert.ok(DeviceUpdate.safeParse(update).success);
  assert.equal(DeviceUpdate.safeParse({ ...update, version: 0 }).success, false);
  assert.equal(DeviceUpdate.safeParse({ ...update, remaining_s: -1 }).success, false);
  assert.ok(
    DeviceAck.safeParse({
      correlation_id: "c",
      status: "ok",
      data: { version: 7, dispensing: true },
    }).success,
  );
  assert.equal(
    DeviceAck.safeParse({ correlation_id: "c", status: "ok", data: { dispensing: true } }).success,
    false,
  );
});

Deno.test("TimerSet requires duration_ms for start and add_ms for extend", () => {
  const base = { ...env, origin: "machine_handler", machine_id: 1, session_id: "s" };
  assert.ok(TimerSet.safeParse({ ...base, op: "start", duration_ms: 60_000 }).success);
  assert.equal(TimerSet.safeParse({ ...base, op: "start" }).success, false);
  assert.equal(TimerSet.safeParse({ ...base, op: "extend" }).success, false);
  assert.ok(TimerSet.safeParse({ ...base, op: "pause" }).success);
});

Deno.test("TimerSetItem has the op fields and rules of TimerSet, with its own correlation_id", () => {
  const base = { correlation_id: "t-1", machine_id: 1, session_id: "s" };
  assert.ok(TimerSetItem.safeParse({ ...base, op: "start", duration_ms: 60_000 }).success);
  assert.ok(TimerSetItem.safeParse({ ...base, op: "extend", add_ms: 1 }).success);
  assert.ok(TimerSetItem.safeParse({ ...base, op: "cancel" }).success);
  assert.equal(TimerSetItem.safeParse({ ...base, op: "start" }).success, false);
  assert.equal(TimerSetItem.safeParse({ ...base, op: "extend" }).success, false);
  assert.equal(TimerSetItem.safeParse({ ...base, correlation_id: "", op: "pause" }).success, false);
  const { correlation_id: _, ...noId } = base;
  assert.equal(TimerSetItem.safeParse({ ...noId, op: "pause" }).success, false);
  assert.equal(TimerSetItem.safeParse({ ...base, machine_id: 0, op: "pause" }).success, false);
  assert.equal(TimerSetItem.safeParse({ ...base, op: "stop" }).success, false);
  assert.deepEqual(Object.keys(TimerSetItem.shape).sort(), [
    "add_ms",
    "correlation_id",
    "duration_ms",
    "machine_id",
    "op",
    "session_id",
  ]);
});

Deno.test("TimerSetBatch takes 1 to 1000 valid operations under the request envelope", () => {
  const env2 = { ...env, origin: "machine_handler" };
  const op = { correlation_id: "t-1", machine_id: 1, session_id: "s", op: "pause" };
  assert.ok(TimerSetBatch.safeParse({ ...env2, ops: [op] }).success);
  assert.ok(TimerSetBatch.safeParse({ ...env2, ops: Array(1000).fill(op) }).success);
  assert.equal(TimerSetBatch.safeParse({ ...env2, ops: [] }).success, false);
  assert.equal(TimerSetBatch.safeParse({ ...env2, ops: Array(1001).fill(op) }).success, false);
  assert.equal(TimerSetBatch.safeParse({ ops: [op] }).success, false, "envelope required");
  const bad = TimerSetBatch.safeParse({ ...env2, ops: [op, { ...op, op: "extend" }] });
  assert.equal(bad.success, false);
  assert.deepEqual(bad.error?.issues[0].path, ["ops", 1, "add_ms"]);
  assert.equal(rpc[topics.timerSetBatch].request, TimerSetBatch);
  assert.equal(
    rpc[topics.timerSetBatch].replyTopic("machine_handler"),
    "timer/responses/machine_handler",
  );
});

Deno.test("TimerBatchResult holds an ok or error result per operation", () => {
  const state = {
    machine_id: 1,
    session_id: "s",
    state: "paused",
    remaining_ms: 5,
    deadline: null,
  };
  const good = {
    results: [
      { correlation_id: "t-1", status: "ok", data: state },
      { correlation_id: "t-2", status: "error", error: { code: "not_active", message: "ended" } },
    ],
  };
  assert.ok(TimerBatchResult.safeParse(good).success);
  assert.ok(responseOf(TimerBatchResult).safeParse({ ...env, status: "ok", data: good }).success);
  assert.ok(TimerBatchResult.safeParse({ results: [] }).success);
  const reject = (results: unknown[]) =>
    assert.equal(TimerBatchResult.safeParse({ results }).success, false, JSON.stringify(results));
  reject([{ status: "ok", data: state }]);
  reject([{ correlation_id: "t-1", status: "ok" }]);
  reject([{ correlation_id: "t-1", status: "ok", data: { ...state, state: "gone" } }]);
  reject([{ correlation_id: "t-1", status: "error", error: { code: "nope", message: "x" } }]);
  reject([{ correlation_id: "t-1", status: "maybe", data: state }]);
});

Deno.test("StatusRequest and MachineState validate", () => {
  assert.ok(StatusRequest.safeParse({ ...env, machine_ids: [1, 2] }).success);
  assert.equal(StatusRequest.safeParse({ ...env, machine_ids: ["1"] }).success, false);
  const state = {
    machine_id: 1,
    label: "Bay 1",
    status: "reserved",
    session: null,
    hold: { hold_id: "h", origin: "kiosk", expires_at: 1 },
    ball_level: "low",
    online: true,
    last_seen: 5,
    desired_version: 3,
    acked_version: 3,
    reason: "held for payment",
    fault: null,
    updated_at: 5,
  };
  assert.ok(MachineState.safeParse(state).success);
  assert.equal(MachineState.safeParse({ ...state, status: "busy" }).success, false);
});
