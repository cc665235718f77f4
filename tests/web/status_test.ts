import assert from "node:assert/strict";
import { MqttAdapter } from "../../lib/mqtt_adapter.ts";
import type { BayView, StatusView } from "../../web/views.ts";
import { waitFor } from "../helpers/wait.ts";
import { COUNTER_CODE, json, startHarness } from "./harness.ts";
import { quiet } from "./quiet.ts";
import { SseReader } from "./sse_reader.ts";

Deno.test("GET /api/status lists every bay with layout, prices and providers", async () => {
  await using h = await startHarness();
  await h.handler.put(4, { ball_level: "low", last_seen: h.clock.now() - 2_000 });
  await waitFor(() => h.node.link.machine(4)?.ball_level === "low", { message: "update" });
  const res = await h.req("/api/status");
  assert.equal(res.headers.get("Cache-Control"), "no-store");
  const s = await json<StatusView>(res, 200);
  assert.equal(s.broker_connected, true);
  assert.equal(s.generated_at, h.clock.now());
  assert.equal(s.kiosk_title, "Driving range");
  assert.equal(s.currency, "EUR");
  assert.equal(s.hold_s, 120);
  assert.deepEqual(s.prices.map((p) => p.id), ["30min", "60min", "90min"]);
  assert.deepEqual(s.payment_providers.map((p) => p.id), ["counter", "external"]);
  assert.deepEqual(s.layout, {
    floors: [
      { floor: 1, rows: [{ row: "A", machine_ids: [1, 2] }, { row: "B", machine_ids: [3] }] },
      { floor: 2, rows: [{ row: "C", machine_ids: [4] }] },
    ],
  });
  assert.deepEqual(s.machines.map((m) => m.machine_id), [1, 2, 3, 4]);
  const bay4 = s.machines[3];
  assert.equal(bay4.floor, 2);
  assert.equal(bay4.row, "C");
  assert.equal(bay4.status, "available");
  assert.equal(bay4.ball_level, "low");
  assert.equal(bay4.last_seen, h.clock.now() - 2_000);
  assert.equal(bay4.remaining_s, null);

  // A running session shows its remaining time, counting down with the clock.
  await h.handler.put(1, {
    status: "active",
    session: {
      session_id: "s1",
      origin: "admin",
      started_at: h.clock.now(),
      paid_s: 600,
      paid_until: h.clock.now() + 600_000,
      remaining_ms: null,
      amount_cents: 0,
      group_id: null,
    },
  });
  await waitFor(() => h.node.link.machine(1)?.status === "active", { message: "active" });
  h.clock.advance(100_500);
  const later = await json<StatusView>(await h.req("/api/status"), 200);
  assert.equal(later.machines[0].remaining_s, 500);
});

Deno.test("GET /api/events sends the snapshot first, then live changes, and cleans up", async () => {
  await using h = await startHarness();
  const listenersBefore = h.node.deps.bus.size;
  const res = await h.req("/api/events");
  assert.equal(res.headers.get("Content-Type"), "text/event-stream");
  const sse = new SseReader(res);
  const first = await sse.next();
  assert.equal(first.event, "snapshot");
  const snap = JSON.parse(first.data) as StatusView;
  assert.equal(snap.machines.length, 4);
  assert.equal(snap.machines[1].status, "available");
  assert.equal(h.node.deps.sse.open, 1);

  // A kiosk purchase: the bay goes reserved, the checkout changes, then the bay goes active.
  const co = await json<{ checkout: { id: string } }>(
    await h.req("/api/kiosk/checkouts", {
      body: { machine_id: 2, price_id: "30min", provider: "counter" },
    }),
    201,
  );
  const reserved = await sse.until<BayView>("machine", (b) => b.machine_id === 2);
  assert.equal(reserved.status, "reserved");
  assert.equal(reserved.hold?.hold_id, co.checkout.id);
  await json(
    await h.req(`/api/kiosk/checkouts/${co.checkout.id}/code`, { body: { code: COUNTER_CODE } }),
    200,
  );
  // The bay goes active (from the handler's reply) and the checkout completes.
  const active = await sse.until<BayView>("machine", (b) => b.status === "active");
  const done = await sse.until<{ id: string; state: string }>("checkout");
  assert.equal(done.id, co.checkout.id);
  assert.equal(done.state, "completed");
  assert.equal(active.machine_id, 2);
  assert.equal(active.remaining_s, 1800);

  // Alerts and timer warnings from the bus are forwarded as they come.
  const pub = new MqttAdapter({ url: h.broker.url, clientId: "t-pub", logger: quiet });
  await pub.connect();
  await pub.publish(
    "hub/alerts",
    JSON.stringify({
      machine_id: 3,
      kind: "offline",
      severity: "critical",
      message: "Bay 3 went offline",
      at: h.clock.now(),
    }),
  );
  const alert = await sse.until<{ message: string }>("alert");
  assert.equal(alert.message, "Bay 3 went offline");
  await pub.publish(
    "timer/warning",
    JSON.stringify({
      machine_id: 2,
      session_id: "x",
      remaining_s: 60,
      deadline: h.clock.now() + 60_000,
      sent_at: h.clock.now(),
    }),
    { qos: 0 },
  );
  const warning = await sse.until<{ remaining_s: number }>("warning");
  assert.equal(warning.remaining_s, 60);
  await pub.close();

  // Heartbeats keep proxies and the page's staleness check happy.
  h.clock.advance(15_000);
  const beat = await sse.until<{ now: number }>("heartbeat");
  assert.equal(beat.now, h.clock.now());

  await sse.cancel();
  await waitFor(() => h.node.deps.sse.open === 0, { message: "stream closed" });
  assert.equal(h.node.deps.bus.size, listenersBefore);
});

Deno.test("a reconnecting client gets the current state first", async () => {
  await using h = await startHarness();
  const a = new SseReader(await h.req("/api/events"));
  await a.until("snapshot");
  await h.handler.put(3, { status: "maintenance", reason: "net repair" });
  await a.until<BayView>("machine", (b) => b.machine_id === 3);
  await a.cancel();
  // While disconnected, more changes happen.
  await h.handler.put(1, { status: "offline", online: false });
  await waitFor(() => h.node.link.machine(1)?.status === "offline", { message: "offline" });
  const b = new SseReader(await h.req("/api/events"));
  const snap = await b.next();
  assert.equal(snap.event, "snapshot");
  const s = JSON.parse(snap.data) as StatusView;
  assert.equal(s.machines[0].status, "offline");
  assert.equal(s.machines[2].status, "maintenance");
  assert.equal(s.machines[2].reason, "net repair");
  // Settings changes reach open pages too.
  const { cookie, csrf } = await h.login();
  await json(
    await h.req("/api/admin/settings", {
      method: "PUT",
      body: { kiosk_title: "Range North" },
      headers: { Cookie: cookie, "X-CSRF-Token": csrf },
    }),
    200,
  );
  const settings = await b.until<{ kiosk_title: string }>("settings");
  assert.equal(settings.kiosk_title, "Range North");
  // Shutdown ends open streams, so the HTTP server can stop.
  h.node.closeStreams();
  assert.equal(await b.ended(), true);
  await waitFor(() => h.node.deps.sse.open === 0, { message: "closed" });
});

Deno.test("GET /healthz is 200 when all is well and 503 with the problem otherwise", async () => {
  await using h = await startHarness();
  const ok = await json<{ status: string; broker_connected: boolean; problems: string[] }>(
    await h.req("/healthz"),
    200,
  );
  assert.equal(ok.status, "ok");
  assert.deepEqual(ok.problems, []);

  h.actors.push({
    name: "machine_handler",
    phase: "restarting",
    restarts: 2,
    healthy: false,
    last_error: "boom",
    started_at: null,
    detail: {},
  });
  const sick = await json<{ status: string; problems: string[]; actors: unknown[] }>(
    await h.req("/healthz"),
    503,
  );
  assert.equal(sick.status, "degraded");
  assert.deepEqual(sick.problems, ["actor machine_handler is not running healthy"]);
  h.actors[0].phase = "running";
  h.actors[0].healthy = true;
  await json(await h.req("/healthz"), 200);

  await h.broker.kill();
  await waitFor(() => !h.node.link.connected, { message: "link down" });
  const down = await json<{ broker_connected: boolean; problems: string[] }>(
    await h.req("/healthz"),
    503,
  );
  assert.equal(down.broker_connected, false);
  assert.match(down.problems[0], /not connected to the MQTT broker/);
  // Commands fail fast and say why while the broker is away... or time out; never hang.
  await h.broker.restart();
  await waitFor(() => h.node.link.connected, { message: "link up", timeoutMs: 10_000 });
  await json(await h.req("/healthz"), 200);
  await waitFor(() => h.node.link.mqtt.stats.reconnects > 0, { message: "reconnect counted" });
});

Deno.test("GET /metrics exposes commands, latency, bays by status, restarts and reconnects", async () => {
  await using h = await startHarness();
  h.actors.push({
    name: "machine_handler",
    phase: "running",
    restarts: 1,
    healthy: true,
    last_error: null,
    started_at: 1,
    detail: {
      commands_total: { "activate:ok": 3, "activate:conflict": 1, "hold:ok": 2 },
      mqtt_reconnects: 2,
    },
  });
  const { cookie, csrf } = await h.login();
  await json(
    await h.req("/api/admin/machines/1/commands", {
      body: { action: "maintenance_on", reason: "test" },
      headers: { Cookie: cookie, "X-CSRF-Token": csrf },
    }),
    200,
  );
  const res = await h.req("/metrics");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("Content-Type") ?? "", /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  const has = (line: string) => assert.ok(text.split("\n").includes(line), `missing: ${line}`);
  has("# TYPE hub_commands_total counter");
  has('hub_commands_total{action="activate",outcome="ok"} 3');
  has('hub_commands_total{action="activate",outcome="conflict"} 1');
  has('hub_commands_total{action="hold",outcome="ok"} 2');
  has("# TYPE hub_rpc_latency_seconds histogram");
  has('hub_rpc_latency_seconds_count{topic="machines/commands",origin="admin"} 1');
  has('hub_rpc_latency_seconds_bucket{topic="machines/commands",origin="admin",le="+Inf"} 1');
  has('hub_rpc_latency_seconds_count{topic="machines/status/request",origin="kiosk"} 1');
  has('hub_machines{status="available"} 3');
  has('hub_machines{status="maintenance"} 1');
  has('hub_machines{status="active"} 0');
  has('hub_actor_restarts_total{actor="machine_handler"} 1');
  has('hub_actor_up{actor="machine_handler"} 1');
  has('hub_mqtt_reconnects_total{node="web"} 0');
  has('hub_mqtt_reconnects_total{node="machine_handler"} 2');
  has("hub_broker_connected 1");
  has("hub_sse_clients 0");
  // Every sample line is `name{labels} number`.
  for (const line of text.trim().split("\n")) {
    if (line.startsWith("#")) continue;
    assert.match(line, /^[a-z_]+(\{[^}]*\})? -?[0-9.e+-]+$/, line);
  }
});
