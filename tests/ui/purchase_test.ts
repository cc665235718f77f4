import assert from "node:assert/strict";
import { ApiError } from "../../web/ui/api_client.ts";
import type { BeginRequest, KioskApi } from "../../web/ui/kiosk/kiosk_api.ts";
import { holdRefusal, Purchase } from "../../web/ui/kiosk/purchase.ts";
import { LiveStore } from "../../web/ui/live_store.ts";
import { ServerClock } from "../../web/ui/server_clock.ts";
import type { CheckoutView } from "../../web/views.ts";
import { bay, checkout, FakeEventSource, snapshot, T0 } from "./fixtures.ts";

class FakeApi implements KioskApi {
  calls: string[] = [];
  beginResult: () => Promise<CheckoutView> = () => Promise.resolve(checkout());
  codeResult: (code: string) => Promise<CheckoutView> = () =>
    Promise.resolve(checkout({ state: "completed" }));
  getResult: () => Promise<CheckoutView> = () => Promise.resolve(checkout());
  begin(req: BeginRequest) {
    this.calls.push(`begin ${req.machine_id} ${req.price_id} ${req.provider}`);
    return this.beginResult();
  }
  submitCode(id: string, code: string) {
    this.calls.push(`code ${id} ${code}`);
    return this.codeResult(code);
  }
  cancel(id: string) {
    this.calls.push(`cancel ${id}`);
    return Promise.resolve(checkout({ state: "cancelled" }));
  }
  get(id: string) {
    this.calls.push(`get ${id}`);
    return this.getResult();
  }
}

function setup(local = { now: T0 }) {
  FakeEventSource.instances = [];
  const live = new LiveStore({
    clock: new ServerClock({ localNow: () => local.now, tickMs: 60_000 }),
    eventSource: (url) => new FakeEventSource(url),
  });
  live.start();
  const es = FakeEventSource.instances[0];
  es.emit("snapshot", snapshot());
  const api = new FakeApi();
  const purchase = new Purchase({ api, live, idleMs: 60_000, doneMs: 60_000, pollMs: 60_000 });
  purchase.start();
  return {
    live,
    es,
    api,
    purchase,
    [Symbol.dispose]() {
      purchase.stop();
      live.stop();
    },
  };
}

const price30 = snapshot().prices[0];

/** The step's kind, read fresh (not narrowed by earlier assertions). */
function kindOf(p: Purchase): string {
  return p.step.value.kind;
}

Deno.test("Purchase with the counter code goes bay -> price -> method -> pay -> done", async () => {
  using t = setup();
  t.purchase.pickBay(t.live.bay(1)!);
  assert.deepEqual(t.purchase.step.value, { kind: "price", bayId: 1 });
  t.purchase.pickPrice(price30);
  assert.equal(kindOf(t.purchase), "method");
  await t.purchase.pay(1, price30, "counter");
  assert.equal(kindOf(t.purchase), "pay");
  t.purchase.code.value = "482913";
  await t.purchase.submitCode();
  assert.equal(kindOf(t.purchase), "done");
  assert.deepEqual(t.api.calls, ["begin 1 30min counter", "code chk_1 482913"]);
  assert.equal(t.purchase.code.value, "");
});

Deno.test("Purchase skips the method choice when only one way to pay is offered", async () => {
  using t = setup();
  t.es.emit("snapshot", snapshot({ payment_providers: [{ id: "counter", label: "Counter" }] }));
  t.purchase.pickBay(t.live.bay(2)!);
  t.purchase.pickPrice(price30);
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(kindOf(t.purchase), "pay");
  assert.deepEqual(t.api.calls, ["begin 2 30min counter"]);
});

Deno.test("Purchase tells the loser of a race that the bay was just taken", async () => {
  using t = setup();
  t.api.beginResult = () =>
    Promise.reject(new ApiError(409, "conflict", "Bay 1 is reserved (hold by kiosk)"));
  t.purchase.pickBay(t.live.bay(1)!);
  t.purchase.pickPrice(price30);
  await t.purchase.pay(1, price30, "counter");
  const s = t.purchase.step.value;
  assert.equal(s.kind, "problem");
  assert.equal(
    s.kind === "problem" && s.message,
    "This bay was just taken — please pick another bay.",
  );
  t.purchase.acknowledge();
  assert.equal(kindOf(t.purchase), "idle");
});

Deno.test("holdRefusal() words every refusal with what to do next", () => {
  assert.match(
    holdRefusal(new ApiError(409, "in_maintenance", "x")).message,
    /out of order.*pick another bay/,
  );
  assert.match(holdRefusal(new ApiError(409, "machine_offline", "x")).message, /pick another bay/);
  assert.equal(
    holdRefusal(new ApiError(0, "network", "Cannot reach the hub. Check the cable.")).message,
    "Cannot reach the hub. Check the cable.",
  );
});

Deno.test("Purchase keeps the keypad open after a wrong code and shows why", async () => {
  using t = setup();
  t.purchase.pickBay(t.live.bay(1)!);
  await t.purchase.pay(1, price30, "counter");
  t.api.codeResult = () =>
    Promise.reject(new ApiError(401, "wrong_code", "That code is not right. Ask staff again."));
  t.purchase.code.value = "1111";
  await t.purchase.submitCode();
  assert.equal(kindOf(t.purchase), "pay");
  assert.equal(t.purchase.notice.value, "That code is not right. Ask staff again.");
  assert.equal(t.purchase.code.value, "");
});

Deno.test("Purchase cancel releases the hold and returns to the bays", async () => {
  using t = setup();
  t.purchase.pickBay(t.live.bay(1)!);
  await t.purchase.pay(1, price30, "counter");
  await t.purchase.cancel();
  assert.equal(kindOf(t.purchase), "idle");
  assert.deepEqual(t.api.calls.at(-1), "cancel chk_1");
});

Deno.test("Purchase announces a bay taken by someone else while choosing", () => {
  using t = setup();
  t.purchase.pickBay(t.live.bay(2)!);
  t.es.emit("machine", bay(2, { status: "reserved", updated_at: T0 + 1 }));
  const s = t.purchase.step.value;
  assert.equal(s.kind, "problem");
  assert.equal(
    s.kind === "problem" && s.message,
    "This bay was just taken — please pick another bay.",
  );
});

Deno.test("Purchase by card waits for the checkout event and then shows the bay started", async () => {
  using t = setup();
  t.api.beginResult = () => Promise.resolve(checkout({ provider: "external" }));
  t.purchase.pickBay(t.live.bay(1)!);
  await t.purchase.pay(1, price30, "external");
  assert.equal(kindOf(t.purchase), "pay");
  t.es.emit("checkout", checkout({ id: "other", state: "completed" }));
  assert.equal(kindOf(t.purchase), "pay", "another kiosk's checkout is ignored");
  t.es.emit("checkout", checkout({ provider: "external", state: "paid" }));
  assert.equal(kindOf(t.purchase), "confirming");
  t.es.emit("checkout", checkout({ provider: "external", state: "completed" }));
  assert.equal(kindOf(t.purchase), "done");
});

Deno.test("Purchase ends the pay step when the hold runs out", async () => {
  const local = { now: T0 };
  using t = setup(local);
  t.purchase.pickBay(t.live.bay(1)!);
  await t.purchase.pay(1, price30, "counter");
  t.api.getResult = () => Promise.resolve(checkout({ state: "expired" }));
  local.now = T0 + 121_000;
  t.live.clock.tick.value = t.live.clock.now();
  await new Promise((r) => setTimeout(r, 0));
  const s = t.purchase.step.value;
  assert.equal(s.kind, "problem");
  assert.match(s.kind === "problem" ? s.message : "", /ran out.*released.*Nothing was charged/);
  assert.deepEqual(t.api.calls.filter((c) => c.startsWith("get")), ["get chk_1"]);
});

Deno.test("Purchase sends a customer whose paid bay did not start to staff with the reference", async () => {
  using t = setup();
  t.purchase.pickBay(t.live.bay(1)!);
  await t.purchase.pay(1, price30, "counter");
  t.api.codeResult = () => Promise.resolve(checkout({ state: "needs_refund", message: "x" }));
  t.purchase.code.value = "1234";
  await t.purchase.submitCode();
  const s = t.purchase.step.value;
  assert.equal(s.kind, "problem");
  assert.match(s.kind === "problem" ? s.message : "", /Show reference K7QF-2M9X at the counter/);
});
