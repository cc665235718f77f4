/**
 * Static render check: the kiosk and admin components render the fixture range to HTML
 * (preact-render-to-string, no browser), so a broken component fails here fast.
 */
import assert from "node:assert/strict";
import { renderToString } from "preact-render-to-string";
import { AdminApi } from "../../web/ui/admin/admin_api.ts";
import { AdminApp, adminUi } from "../../web/ui/admin/admin_app.tsx";
import { AuthState } from "../../web/ui/admin/auth_state.ts";
import { BayPanel } from "../../web/ui/admin/bay_panel.tsx";
import { ApiClient } from "../../web/ui/api_client.ts";
import type { KioskApi } from "../../web/ui/kiosk/kiosk_api.ts";
import { KioskApp } from "../../web/ui/kiosk/kiosk_app.tsx";
import { Purchase } from "../../web/ui/kiosk/purchase.ts";
import { LiveStore } from "../../web/ui/live_store.ts";
import { ServerClock } from "../../web/ui/server_clock.ts";
import type { CheckoutView } from "../../web/views.ts";
import { checkout, snapshot, T0 } from "./fixtures.ts";

/** A store whose page clock reads `local.now`, after a snapshot generated at server time T0. */
function liveAt(localNow: number, local = { now: localNow }): LiveStore {
  const live = new LiveStore({ clock: new ServerClock({ localNow: () => local.now }) });
  live.applySnapshot(snapshot());
  return live;
}

const pending: CheckoutView = checkout({
  expires_at: T0 + 95_000,
  instructions: "Pay at the counter. A member of staff will then enter their code here.",
});

const api: KioskApi = {
  begin: () => Promise.resolve(pending),
  submitCode: () => Promise.resolve(pending),
  cancel: () => Promise.resolve(pending),
  get: () => Promise.resolve(pending),
};

/** Tag-free text of an HTML string, whitespace collapsed. */
function text(html: string): string {
  return html.replace(/<[^>]+>/g, " ").replace(/&nbsp;/g, " ").replace(/\s+/g, " ");
}

Deno.test("KioskApp renders the floors, rows and every bay with its customer status", () => {
  const live = liveAt(T0);
  const html = renderToString(<KioskApp live={live} purchase={new Purchase({ api, live })} />);
  const t = text(html);
  assert.match(t, /Fairway Range/);
  assert.match(t, /Floor 1 .*Row A .*Floor 2 .*Row B/);
  assert.match(t, /Bay 1 Available/);
  assert.match(t, /Bay 3 In play 29:30/, "the active bay counts down from paid_until");
  assert.match(t, /Bay 4 Out of order/);
  assert.match(t, /Bay 5 Reserved/);
  assert.match(t, /Bay 6 Out of order/);
  assert.match(t, /2 of 6 bays free · from €8\.00 for 30 min/);
  // Only free bays can be tapped.
  const enabled = [...html.matchAll(/<button[^>]*data-bay="(\d+)"[^>]*>/g)]
    .filter((m) => !/disabled/.test(m[0])).map((m) => m[1]);
  assert.deepEqual(enabled, ["1", "2"]);
});

Deno.test("KioskApp counts down in server time, not the kiosk's clock", () => {
  // The kiosk's clock is 10 minutes fast: the countdown is still the server's 29:30.
  const local = { now: T0 + 600_000 };
  const live = liveAt(local.now, local);
  const purchase = new Purchase({ api, live });
  let t = text(renderToString(<KioskApp live={live} purchase={purchase} />));
  assert.match(t, /Bay 3 In play 29:30/);
  local.now += 90_000;
  t = text(renderToString(<KioskApp live={live} purchase={purchase} />));
  assert.match(t, /Bay 3 In play 28:00/);
});

Deno.test("KioskApp renders the price choice, the keypad with the hold countdown, and a refusal", async () => {
  const live = liveAt(T0);
  const purchase = new Purchase({ api, live });
  purchase.pickBay(live.bay(1)!);
  let t = text(renderToString(<KioskApp live={live} purchase={purchase} />));
  assert.match(t, /How long would you like to play\?/);
  assert.match(t, /30 minutes 30 min of play €8\.00/);
  assert.match(t, /60 minutes 1 h of play €14\.00/);
  await purchase.pay(1, live.status.value!.prices[0], "counter");
  t = text(renderToString(<KioskApp live={live} purchase={purchase} />));
  assert.match(t, /Pay at the counter/);
  assert.match(t, /To pay €8\.00/);
  assert.match(t, /Bay held for you for 1:35/);
  assert.match(t, /Staff code/);
  assert.match(t, /Cancel and release the bay/);
  purchase.step.value = {
    kind: "problem",
    title: "This bay was just taken",
    message: "This bay was just taken — please pick another bay.",
  };
  t = text(renderToString(<KioskApp live={live} purchase={purchase} />));
  assert.match(t, /This bay was just taken — please pick another bay\. Pick a bay/);
  purchase.stop();
});

Deno.test("AdminApp renders the login form when logged out", () => {
  const adminApi = new AdminApi(new ApiClient());
  const auth = new AuthState(adminApi);
  auth.phase.value = "out";
  auth.message.value = "Your session has ended. Please log in again.";
  const live = liveAt(T0);
  const t = text(renderToString(<AdminApp auth={auth} api={adminApi} live={live} />));
  assert.match(t, /Range admin/);
  assert.match(t, /Password/);
  assert.match(t, /Your session has ended\. Please log in again\./);
});

Deno.test("AdminApp renders the live grid with exact statuses and the selected bay's actions", () => {
  const adminApi = new AdminApi(new ApiClient());
  const auth = new AuthState(adminApi);
  auth.phase.value = "in";
  const live = liveAt(T0);
  adminUi.selected.value = 3;
  adminUi.tab.value = "bays";
  const html = renderToString(<AdminApp auth={auth} api={adminApi} live={live} />);
  adminUi.selected.value = null;
  const t = text(html);
  for (const s of ["Maintenance", "Offline", "Reserved", "Active", "Available"]) {
    assert.match(t, new RegExp(`Bay \\d ${s}`));
  }
  assert.match(t, /jammed feeder/);
  assert.match(
    t,
    /Bays Alerts 1 Checkouts Ledger Settings Reports/,
    "only bay 6 (offline) needs staff",
  );
  for (
    const a of [
      "activate",
      "extend",
      "pause",
      "resume",
      "deactivate",
      "maintenance_on",
      "maintenance_off",
    ]
  ) {
    assert.match(html, new RegExp(`data-action="${a}"`));
  }
  assert.match(t, /Force override/);
});

Deno.test("BayPanel enables only the actions that fit the status, all of them with force", () => {
  const live = liveAt(T0);
  const adminApi = new AdminApi(new ApiClient());
  const html = renderToString(
    <BayPanel bay={live.bay(4)!} live={live} api={adminApi} onClose={() => {}} />,
  );
  const enabled = [...html.matchAll(/<button[^>]*data-action="(\w+)"[^>]*>/g)]
    .filter((m) => !/disabled/.test(m[0])).map((m) => m[1]);
  assert.deepEqual(enabled, ["maintenance_off"]);
  assert.match(text(html), /Reason jammed feeder/);
});
