/**
 * The web node against the real machine handler and timer actors and simulated dispensers,
 * over real HTTP (`startHub()` as `serve --simulate` runs it).
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../lib/config.ts";
import { startHub } from "../../lib/hub.ts";
import { hashPassword } from "../../web/auth/password.ts";
import type { BayView, StatusView } from "../../web/views.ts";
import { waitFor } from "../helpers/wait.ts";
import { quiet } from "./quiet.ts";
import { SseReader } from "./sse_reader.ts";

Deno.test("startHub(): a kiosk purchase with the counter code runs on the real handler", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "hub-web-real-" });
  const config = parseConfig({
    data_dir: dataDir,
    mqtt: { broker_port: 0 },
    http: { host: "127.0.0.1", port: 0 },
    machines: [{ id: 1 }, { id: 2 }, { id: 3 }],
    web: {
      admin_password_hash: await hashPassword("admin password!", { iterations: 1000 }),
      counter_codes: [{ staff: "anna", hash: await hashPassword("246810", { iterations: 1000 }) }],
    },
  });
  const hub = await startHub({ config, logger: quiet, simulate: 3 });
  const base = `http://127.0.0.1:${hub.httpPort}`;
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...headers },
      body: JSON.stringify(body),
    });
  let events: SseReader | null = null;
  try {
    await waitFor(async () => {
      const s = await (await fetch(`${base}/api/status`)).json() as StatusView;
      return s.machines.every((m) => m.status === "available" && m.online);
    }, { message: "all bays available and online", timeoutMs: 10_000 });
    const health = await fetch(`${base}/healthz`);
    assert.equal(health.status, 200, await health.text());

    events = new SseReader(await fetch(`${base}/api/events`));
    assert.equal((await events.next()).event, "snapshot");

    // Two kiosks race for bay 2: the real handler lets exactly one hold it.
    const race = await Promise.all(
      [1, 2].map(() =>
        post("/api/kiosk/checkouts", { machine_id: 2, price_id: "30min", provider: "counter" })
      ),
    );
    assert.deepEqual(race.map((r) => r.status).sort(), [201, 409]);
    const [win, lose] = race[0].status === 201 ? race : [race[1], race[0]];
    const loser = await lose.json();
    assert.equal(loser.error.code, "conflict");
    const { checkout } = await win.json();
    assert.equal(checkout.state, "pending");

    const paid = await post(`/api/kiosk/checkouts/${checkout.id}/code`, { code: "246810" });
    const body = await paid.json();
    assert.equal(paid.status, 200, JSON.stringify(body));
    assert.equal(body.checkout.state, "completed");
    assert.equal(body.machine.status, "active");
    assert.ok(body.machine.remaining_s >= 1799 && body.machine.remaining_s <= 1800);
    const live = await events.until<BayView>(
      "machine",
      (b) => b.machine_id === 2 && b.status === "active",
    );
    assert.equal(live.session?.session_id, checkout.session_id);

    // An admin puts bay 3 in maintenance; open pages see it.
    const login = await post("/api/admin/login", { password: "admin password!" });
    assert.equal(login.status, 200);
    const cookie = (login.headers.get("Set-Cookie") ?? "").split(";")[0];
    const { csrf_token } = await login.json();
    const maint = await post("/api/admin/machines/3/commands", {
      action: "maintenance_on",
      reason: "net repair",
    }, { Cookie: cookie, "X-CSRF-Token": csrf_token });
    const m = await maint.json();
    assert.equal(maint.status, 200, JSON.stringify(m));
    assert.equal(m.machine.status, "maintenance");
    const seen = await events.until<BayView>("machine", (b) => b.machine_id === 3);
    assert.equal(seen.reason, "net repair");

    // The handler's refusal reaches the admin with its reason.
    const refused = await post("/api/admin/machines/2/commands", {
      action: "maintenance_on",
      reason: "x",
    }, { Cookie: cookie, "X-CSRF-Token": csrf_token });
    assert.equal(refused.status, 409);
    assert.match((await refused.json()).error.message, /end the session first, or use force/);

    // The ledger and the usage report read the handler's database.
    const ledger = await (await fetch(`${base}/api/admin/ledger?machine=2&action=activate`, {
      headers: { Cookie: cookie },
    })).json();
    assert.equal(ledger.entries[0].origin, "kiosk");
    assert.equal(ledger.entries[0].outcome, "ok");
    const day = new Date();
    const ymd = `${day.getFullYear()}-${String(day.getMonth() + 1).padStart(2, "0")}-${
      String(day.getDate()).padStart(2, "0")
    }`;
    const csv = await (await fetch(`${base}/api/admin/reports/usage.csv?from=${ymd}&to=${ymd}`, {
      headers: { Cookie: cookie },
    })).text();
    assert.match(csv, new RegExp(`^${ymd},2,Bay 2,1,30,30,800,8\\.00,EUR\\r$`, "m"));

    // Metrics carry the handler's command counters (reported with its health every ~2 s).
    await waitFor(async () => {
      const text = await (await fetch(`${base}/metrics`)).text();
      return text.includes('hub_commands_total{action="activate",outcome="ok"} 1') &&
        text.includes('hub_machines{status="active"} 1');
    }, { message: "handler counters in /metrics", timeoutMs: 8_000 });
  } finally {
    await events?.cancel();
    await hub.stop();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
});
