import assert from "node:assert/strict";
import { sha256Hex } from "../../web/encoding.ts";
import { ADMIN_PASSWORD, json, startHarness } from "./harness.ts";

type Err = { error: { code: string; message: string } };

const adminEndpoints: Array<[string, string]> = [
  ["GET", "/api/admin/session"],
  ["POST", "/api/admin/logout"],
  ["POST", "/api/admin/machines/1/commands"],
  ["GET", "/api/admin/alerts"],
  ["GET", "/api/admin/ledger"],
  ["GET", "/api/admin/reports/usage.csv?from=2026-06-01&to=2026-06-02"],
  ["GET", "/api/admin/settings"],
  ["PUT", "/api/admin/settings"],
  ["GET", "/api/admin/checkouts"],
  ["POST", "/api/admin/checkouts/chk_x/resolve"],
  ["GET", "/api/admin/no-such-thing"],
];

Deno.test("every admin endpoint answers 401 without a session", async () => {
  await using h = await startHarness();
  for (const [method, path] of adminEndpoints) {
    const res = await h.req(path, {
      method,
      body: method === "GET" ? undefined : { action: "maintenance_off" },
    });
    const body = await json<Err>(res, 401);
    assert.equal(body.error.code, "unauthorized", `${method} ${path}`);
  }
  // A forged cookie is no session either.
  const forged = await h.req("/api/admin/session", { headers: { Cookie: "hub_admin=forged" } });
  assert.equal(forged.status, 401);
  await forged.body?.cancel();
  assert.equal(h.handler.commands.length, 0);
});

Deno.test("POST /api/admin/login sets an HttpOnly SameSite=Strict cookie and a CSRF token", async () => {
  await using h = await startHarness();
  const res = await h.req("/api/admin/login", { body: { password: ADMIN_PASSWORD } });
  const body = await json<{ csrf_token: string; expires_at: number }>(res, 200);
  const cookie = res.headers.get("Set-Cookie") ?? "";
  assert.match(cookie, /^hub_admin=[A-Za-z0-9_-]{43};/);
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
  assert.match(cookie, /Path=\/api\/admin/);
  assert.match(cookie, /Max-Age=28800/);
  assert.equal(body.expires_at, h.clock.now() + 8 * 3600_000);
  assert.ok(body.csrf_token.length >= 40);

  const session = await json<{ authenticated: boolean; csrf_token: string }>(
    await h.req("/api/admin/session", { headers: { Cookie: cookie.split(";")[0] } }),
    200,
  );
  assert.equal(session.csrf_token, body.csrf_token);
  // Only the token's hash is stored.
  const token = cookie.split(";")[0].split("=")[1];
  const store = h.node.deps.store;
  assert.equal(store.getAdminSession(token), null);
  assert.ok(store.getAdminSession(await sha256Hex(token)));
});

Deno.test("login needs JSON, refuses a wrong password and locks out after five failures", async () => {
  await using h = await startHarness();
  const form = await h.req("/api/admin/login", {
    body: "password=x",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
  });
  assert.equal(form.status, 415);
  await form.body?.cancel();
  const empty = await json<Err>(await h.req("/api/admin/login", { body: {} }), 400);
  assert.match(empty.error.message, /password/);

  for (let i = 0; i < 4; i++) {
    const res = await json<Err>(
      await h.req("/api/admin/login", { body: { password: "guess" }, ip: "10.1.1.1" }),
      401,
    );
    assert.equal(res.error.code, "wrong_password");
  }
  const fifth = await h.req("/api/admin/login", { body: { password: "guess" }, ip: "10.1.1.1" });
  assert.equal(fifth.status, 429);
  assert.equal(fifth.headers.get("Retry-After"), "30");
  await fifth.body?.cancel();
  // Locked out even with the right password, but only this client.
  const locked = await json<Err>(
    await h.req("/api/admin/login", { body: { password: ADMIN_PASSWORD }, ip: "10.1.1.1" }),
    429,
  );
  assert.equal(locked.error.code, "locked_out");
  assert.match(locked.error.message, /30 seconds/);
  await json(
    await h.req("/api/admin/login", { body: { password: ADMIN_PASSWORD }, ip: "10.1.1.2" }),
    200,
  );
  // The lock lifts with time; the next lockout is twice as long.
  h.clock.advance(30_000);
  for (let i = 0; i < 5; i++) {
    const r = await h.req("/api/admin/login", { body: { password: "guess" }, ip: "10.1.1.1" });
    await r.body?.cancel();
  }
  const second = await h.req("/api/admin/login", { body: { password: "x" }, ip: "10.1.1.1" });
  assert.equal(second.headers.get("Retry-After"), "60");
  await second.body?.cancel();
});

Deno.test("state-changing admin requests need the session's CSRF token (403 otherwise)", async () => {
  await using h = await startHarness();
  const { cookie, csrf } = await h.login();
  const other = await h.login();
  const body = { action: "maintenance_on", reason: "jammed" };
  const missing = await json<Err>(
    await h.req("/api/admin/machines/1/commands", { body, headers: { Cookie: cookie } }),
    403,
  );
  assert.equal(missing.error.code, "csrf_failed");
  const wrong = await json<Err>(
    await h.req("/api/admin/machines/1/commands", {
      body,
      headers: { Cookie: cookie, "X-CSRF-Token": other.csrf },
    }),
    403,
  );
  assert.equal(wrong.error.code, "csrf_failed");
  for (const path of ["/api/admin/logout", "/api/admin/settings"]) {
    const r = await h.req(path, {
      method: path.endsWith("settings") ? "PUT" : "POST",
      body: {},
      headers: { Cookie: cookie },
    });
    assert.equal(r.status, 403, path);
    await r.body?.cancel();
  }
  assert.equal(h.handler.commands.length, 0);
  const ok = await json<{ action: string; machine: { status: string; reason: string } }>(
    await h.req("/api/admin/machines/1/commands", {
      body,
      headers: { Cookie: cookie, "X-CSRF-Token": csrf },
    }),
    200,
  );
  assert.equal(ok.machine.status, "maintenance");
  assert.equal(ok.machine.reason, "jammed");
});

Deno.test("admin commands reach the handler as origin admin and return its outcome", async () => {
  await using h = await startHarness();
  const { cookie, csrf } = await h.login();
  const post = (id: number | string, body: unknown, extra: Record<string, string> = {}) =>
    h.req(`/api/admin/machines/${id}/commands`, {
      body,
      headers: { Cookie: cookie, "X-CSRF-Token": csrf, ...extra },
    });

  const act = await json<
    { action: string; forced: boolean; machine: { status: string; remaining_s: number } }
  >(
    await post(2, { action: "activate", duration_s: 600, amount_cents: 0 }),
    200,
  );
  assert.equal(act.machine.status, "active");
  assert.equal(act.machine.remaining_s, 600);
  assert.equal(h.handler.commands.at(-1)?.origin, "admin");

  await json(await post(2, { action: "extend", add_s: 300 }), 200);
  const paused = await json<{ machine: { status: string; remaining_s: number } }>(
    await post(2, { action: "pause" }),
    200,
  );
  assert.equal(paused.machine.status, "paused");
  assert.equal(paused.machine.remaining_s, 900);
  await json(await post(2, { action: "resume" }), 200);

  // The handler's refusal, with its code, its message and the matching status.
  const refused = await json<Err & { duplicate: boolean }>(
    await post(2, { action: "maintenance_on", reason: "hopper jam" }),
    409,
  );
  assert.equal(refused.error.code, "conflict");
  assert.match(refused.error.message, /end it first or use force/);
  const forced = await json<{ forced: boolean; machine: { status: string } }>(
    await post(2, { action: "maintenance_on", reason: "hopper jam", force: true }),
    200,
  );
  assert.equal(forced.forced, true);
  assert.equal(forced.machine.status, "maintenance");
  await json(await post(2, { action: "maintenance_off" }), 200);

  const notActive = await json<Err>(await post(2, { action: "deactivate" }), 409);
  assert.equal(notActive.error.code, "not_active");
  const unknown = await json<Err>(await post(99, { action: "pause" }), 404);
  assert.equal(unknown.error.code, "unknown_machine");

  // Validation: a clear 400 before anything is sent.
  const before = h.handler.commands.length;
  const noReason = await json<Err>(await post(1, { action: "maintenance_on" }), 400);
  assert.equal(noReason.error.code, "invalid_request");
  assert.match(noReason.error.message, /reason/);
  const badAction = await json<Err>(await post(1, { action: "explode" }), 400);
  assert.match(badAction.error.message, /action/);
  const shortRun = await json<Err>(await post(1, { action: "activate", duration_s: 5 }), 400);
  assert.match(shortRun.error.message, /duration_s/);
  const badId = await json<Err>(await post("abc", { action: "pause" }), 400);
  assert.match(badId.error.message, /bay number/);
  assert.equal(h.handler.commands.length, before);

  // The same Idempotency-Key twice: the handler repeats the first outcome, marked duplicate.
  const first = await json<{ duplicate: boolean }>(
    await post(3, { action: "activate", duration_s: 60 }, { "Idempotency-Key": "k-1" }),
    200,
  );
  const second = await json<{ duplicate: boolean }>(
    await post(3, { action: "activate", duration_s: 60 }, { "Idempotency-Key": "k-1" }),
    200,
  );
  assert.equal(first.duplicate, false);
  assert.equal(second.duplicate, true);
});

Deno.test("logout ends the session; an expired session is 401", async () => {
  await using h = await startHarness();
  const a = await h.login();
  const out = await json<{ logged_out: boolean }>(
    await h.req("/api/admin/logout", {
      method: "POST",
      headers: { Cookie: a.cookie, "X-CSRF-Token": a.csrf },
    }),
    200,
  );
  assert.equal(out.logged_out, true);
  await json(await h.req("/api/admin/session", { headers: { Cookie: a.cookie } }), 401);

  const b = await h.login();
  await json(await h.req("/api/admin/session", { headers: { Cookie: b.cookie } }), 200);
  h.clock.advance(8 * 3600_000);
  await json(await h.req("/api/admin/session", { headers: { Cookie: b.cookie } }), 401);
});

Deno.test("PUT /api/admin/settings changes prices and hold time, persisted in web.db", async () => {
  await using h = await startHarness();
  const { cookie, csrf } = await h.login();
  const headers = { Cookie: cookie, "X-CSRF-Token": csrf };
  const prices = [
    { id: "45min", label: "45 minutes", duration_s: 2700, amount_cents: 1100 },
    { id: "2h", label: "2 hours", duration_s: 7200, amount_cents: 2500 },
  ];
  const bad = await json<Err>(
    await h.req("/api/admin/settings", {
      method: "PUT",
      body: { prices: [{ ...prices[0], duration_s: 10 }] },
      headers,
    }),
    400,
  );
  assert.match(bad.error.message, /prices\.0\.duration_s/);
  const dupes = await json<Err>(
    await h.req("/api/admin/settings", {
      method: "PUT",
      body: { prices: [prices[0], prices[0]] },
      headers,
    }),
    400,
  );
  assert.match(dupes.error.message, /unique/);
  const nothing = await json<Err>(
    await h.req("/api/admin/settings", { method: "PUT", body: {}, headers }),
    400,
  );
  assert.match(nothing.error.message, /nothing to change/);

  const saved = await json<{ settings: { prices: unknown[]; hold_s: number } }>(
    await h.req("/api/admin/settings", { method: "PUT", body: { prices, hold_s: 90 }, headers }),
    200,
  );
  assert.deepEqual(saved.settings.prices, prices);
  const status = await json<{ prices: unknown[]; hold_s: number }>(await h.req("/api/status"), 200);
  assert.deepEqual(status.prices, prices);
  assert.equal(status.hold_s, 90);
  // The kiosk sells the new prices and holds for the new time.
  const co = await json<{ checkout: { expires_at: number; price: { amount_cents: number } } }>(
    await h.req("/api/kiosk/checkouts", {
      body: { machine_id: 1, price_id: "2h", provider: "counter" },
    }),
    201,
  );
  assert.equal(co.checkout.price.amount_cents, 2500);
  assert.equal(co.checkout.expires_at, h.clock.now() + 90_000);

  const second = await h.restartNode();
  const again = await json<{ settings: { prices: unknown[]; hold_s: number } }>(
    await second.app.request("/api/admin/settings", { headers: { Cookie: cookie } }),
    200,
  );
  assert.deepEqual(again.settings.prices, prices);
  assert.equal(again.settings.hold_s, 90);
});

Deno.test("GET /api/admin/alerts lists the handler's alerts", async () => {
  await using h = await startHarness();
  const { cookie } = await h.login();
  const { MqttAdapter } = await import("../../lib/mqtt_adapter.ts");
  const { quiet } = await import("./quiet.ts");
  const pub = new MqttAdapter({ url: h.broker.url, clientId: "alerter", logger: quiet });
  await pub.connect();
  const alert = {
    machine_id: 3,
    kind: "ball_level",
    severity: "warning",
    message: "Bay 3 is low on balls",
    at: h.clock.now(),
  };
  await pub.publish("hub/alerts", JSON.stringify(alert));
  await pub.publish("hub/alerts", "not json");
  await pub.close();
  const { waitFor } = await import("../helpers/wait.ts");
  await waitFor(() => h.node.link.alerts().length === 1, { message: "alert cached" });
  const res = await json<{ alerts: unknown[] }>(
    await h.req("/api/admin/alerts", { headers: { Cookie: cookie } }),
    200,
  );
  assert.deepEqual(res.alerts, [alert]);
});
