import assert from "node:assert/strict";
import { LiveStore } from "../../web/ui/live_store.ts";
import { ServerClock } from "../../web/ui/server_clock.ts";
import { waitFor } from "../helpers/wait.ts";
import { bay, FakeEventSource, snapshot, T0 } from "./fixtures.ts";

function setup(localNow = () => T0 - 60_000) {
  FakeEventSource.instances = [];
  const live = new LiveStore({
    clock: new ServerClock({ localNow }),
    eventSource: (url) => new FakeEventSource(url),
    retryMs: 5,
    maxRetryMs: 20,
  });
  live.start();
  const es = () => FakeEventSource.instances.at(-1)!;
  return { live, es };
}

Deno.test("LiveStore takes the first snapshot as the whole state and the server's time", () => {
  const { live, es } = setup();
  try {
    assert.equal(live.connection.value, "connecting");
    assert.equal(es().url, "/api/events");
    es().open();
    es().emit("snapshot", snapshot());
    assert.equal(live.connection.value, "live");
    assert.equal(live.bays.value.size, 6);
    assert.equal(live.bay(3)?.status, "active");
    assert.equal(live.status.value?.kiosk_title, "Fairway Range");
    // The kiosk's clock is a minute behind; the store follows the server's.
    assert.equal(live.clock.offsetMs.value, 60_000);
    assert.deepEqual(live.orderedBays.value.map((b) => b.machine_id), [1, 2, 3, 4, 5, 6]);
  } finally {
    live.stop();
  }
});

Deno.test("LiveStore applies a machine event to one bay and ignores an older one", () => {
  const { live, es } = setup();
  try {
    es().emit("snapshot", snapshot());
    es().emit("machine", bay(2, { status: "maintenance", reason: "net torn", updated_at: T0 + 1 }));
    assert.equal(live.bay(2)?.status, "maintenance");
    assert.equal(live.bay(2)?.reason, "net torn");
    assert.equal(live.bay(2)?.floor, 1);
    es().emit("machine", bay(2, { status: "available", updated_at: T0 - 1 }));
    assert.equal(live.bay(2)?.status, "maintenance", "a stale event must not win");
    assert.equal(live.bay(1)?.status, "available");
  } finally {
    live.stop();
  }
});

Deno.test("LiveStore reconnects after a closed stream and replaces the state with the new snapshot", async () => {
  const { live, es } = setup();
  try {
    const first = es();
    first.emit("snapshot", snapshot());
    first.fail(true);
    assert.equal(live.connection.value, "reconnecting");
    assert.ok(first.closed);
    await waitFor(() => FakeEventSource.instances.length === 2, { message: "a new EventSource" });
    // Bay 6 was removed from the configuration meanwhile; bay 1 became active.
    const next = snapshot();
    next.machines = next.machines.filter((m) => m.machine_id !== 6);
    next.machines[0] = { ...next.machines[0], status: "active" };
    first.emit("machine", bay(2, { status: "error", updated_at: T0 + 5 }));
    assert.equal(live.bay(2)?.status, "available", "events of a closed stream are ignored");
    es().emit("snapshot", next);
    assert.equal(live.connection.value, "live");
    assert.equal(live.bays.value.size, 5);
    assert.equal(live.bay(6), undefined);
    assert.equal(live.bay(1)?.status, "active");
    assert.equal(live.snapshots.value, 2);
  } finally {
    live.stop();
  }
});

Deno.test("LiveStore shows 'reconnecting' while the browser retries by itself", () => {
  const { live, es } = setup();
  try {
    es().emit("snapshot", snapshot());
    es().fail(false);
    assert.equal(live.connection.value, "reconnecting");
    assert.equal(FakeEventSource.instances.length, 1, "the browser's own retry is used");
    es().emit("snapshot", snapshot());
    assert.equal(live.connection.value, "live");
  } finally {
    live.stop();
  }
});

Deno.test("LiveStore follows settings, alerts, broker state and heartbeats", () => {
  const { live, es } = setup();
  try {
    es().emit("snapshot", snapshot());
    const seen: number[] = [];
    const off = live.onSettings(() => seen.push(1));
    es().emit("settings", {
      kiosk_title: "Night range",
      hold_s: 90,
      prices: [{ id: "15", label: "15 minutes", duration_s: 900, amount_cents: 500 }],
    });
    off();
    assert.equal(live.status.value?.kiosk_title, "Night range");
    assert.equal(live.status.value?.prices.length, 1);
    assert.deepEqual(seen, [1]);
    es().emit("alert", {
      machine_id: 6,
      kind: "offline",
      severity: "warning",
      message: "Bay 6 went offline",
      at: T0,
    });
    assert.equal(live.alerts.value.length, 1);
    es().emit("connection", { broker_connected: false });
    assert.equal(live.brokerConnected.value, false);
    es().emit("heartbeat", { now: T0 + 120_000 });
    assert.equal(live.clock.offsetMs.value, 180_000);
  } finally {
    live.stop();
  }
});

Deno.test("LiveStore passes checkout events to listeners", () => {
  const { live, es } = setup();
  try {
    const got: string[] = [];
    live.onCheckout((c) => got.push(`${c.id}:${c.state}`));
    es().emit("checkout", { id: "chk_1", state: "completed" });
    assert.deepEqual(got, ["chk_1:completed"]);
  } finally {
    live.stop();
  }
});

Deno.test("LiveStore marks a bay whose session the timer warned about, until it changes", () => {
  const { live, es } = setup();
  try {
    es().emit("snapshot", snapshot());
    assert.equal(live.endingSoon(live.bay(3)!), false);
    es().emit("warning", {
      machine_id: 3,
      session_id: "s3",
      remaining_s: 300,
      deadline: T0 + 300_000,
      sent_at: T0,
    });
    assert.equal(live.endingSoon(live.bay(3)!), true);
    // Extended into a new session id, or ended: the warning no longer applies.
    es().emit("machine", bay(3, { status: "available", session: null, updated_at: T0 + 1 }));
    assert.equal(live.endingSoon(live.bay(3)!), false);
    assert.equal(live.warnings.value.size, 0);
  } finally {
    live.stop();
  }
});
