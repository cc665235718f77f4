import assert from "node:assert/strict";
import { waitFor } from "../helpers/wait.ts";
import { COUNTER_CODE, json, startHarness } from "./harness.ts";

type CheckoutJson = {
  checkout: {
    id: string;
    state: string;
    reference: string;
    expires_at: number;
    machine_id: number;
    checkout_url: string | null;
    instructions: string;
    message: string | null;
  };
  machine: { status: string; remaining_s: number | null; session: { session_id: string } | null };
};

Deno.test("POST /api/kiosk/checkouts holds the bay; the staff code starts it", async () => {
  await using h = await startHarness();
  const start = await json<CheckoutJson>(
    await h.req("/api/kiosk/checkouts", {
      body: { machine_id: 2, price_id: "30min", provider: "counter" },
    }),
    201,
  );
  assert.equal(start.checkout.state, "pending");
  assert.equal(start.machine.status, "reserved");
  assert.equal(start.checkout.expires_at, h.clock.now() + 120_000);
  assert.match(start.checkout.instructions, /counter/);
  assert.equal(h.handler.state(2).hold?.hold_id, start.checkout.id);

  const paid = await json<CheckoutJson>(
    await h.req(`/api/kiosk/checkouts/${start.checkout.id}/code`, {
      body: { code: COUNTER_CODE },
    }),
    200,
  );
  assert.equal(paid.checkout.state, "completed");
  assert.equal(paid.machine.status, "active");
  assert.equal(paid.machine.remaining_s, 1800);
  const bay = h.handler.state(2);
  assert.equal(bay.status, "active");
  assert.equal(bay.session?.amount_cents, 800);
  assert.equal(bay.session?.session_id, paid.checkout.id.replace(/^chk_/, "ses_"));
  const activate = h.handler.commands.find((c) => c.action === "activate");
  assert.equal(activate?.origin, "kiosk");
  assert.equal(activate?.action === "activate" && activate.hold_id, start.checkout.id);

  const again = await json<CheckoutJson>(
    await h.req(`/api/kiosk/checkouts/${start.checkout.id}`),
    200,
  );
  assert.equal(again.checkout.state, "completed");
  // Staff see who took the money.
  const { cookie } = await h.login();
  const list = await json<{ checkouts: Array<{ id: string; paid_by: string }> }>(
    await h.req("/api/admin/checkouts?state=completed", { headers: { Cookie: cookie } }),
    200,
  );
  assert.equal(list.checkouts[0].paid_by, "staff:anna");
});

Deno.test("two kiosks racing for one bay: exactly one checkout wins", async () => {
  await using h = await startHarness();
  const body = { machine_id: 3, price_id: "60min", provider: "counter" };
  const [a, b] = await Promise.all([
    h.req("/api/kiosk/checkouts", { body, ip: "10.0.0.1" }),
    h.req("/api/kiosk/checkouts", { body, ip: "10.0.0.2" }),
  ]);
  const statuses = [a.status, b.status].sort();
  assert.deepEqual(statuses, [201, 409]);
  const loser = a.status === 409 ? a : b;
  const err = await loser.json();
  assert.equal(err.error.code, "conflict");
  assert.match(err.error.message, /Bay 3/);
  assert.equal(h.handler.commands.filter((c) => c.action === "hold").length, 2);
});

Deno.test("a wrong staff code is refused; five lock the kiosk out with Retry-After", async () => {
  await using h = await startHarness();
  const { checkout } = await json<CheckoutJson>(
    await h.req("/api/kiosk/checkouts", {
      body: { machine_id: 1, price_id: "30min", provider: "counter" },
    }),
    201,
  );
  const path = `/api/kiosk/checkouts/${checkout.id}/code`;
  for (let i = 0; i < 4; i++) {
    const res = await json<{ error: { code: string; message: string } }>(
      await h.req(path, { body: { code: "000000" } }),
      401,
    );
    assert.equal(res.error.code, "wrong_code");
    assert.match(res.error.message, /Ask staff/);
  }
  const locked = await h.req(path, { body: { code: "000000" } });
  assert.equal(locked.status, 429);
  assert.equal(locked.headers.get("Retry-After"), "30");
  // Even the right code waits out the lockout...
  const stillLocked = await h.req(path, { body: { code: COUNTER_CODE } });
  assert.equal(stillLocked.status, 429);
  await stillLocked.body?.cancel();
  assert.equal(h.handler.state(1).status, "reserved");
  // ...and works after it.
  h.clock.advance(30_000);
  const ok = await json<CheckoutJson>(await h.req(path, { body: { code: COUNTER_CODE } }), 200);
  assert.equal(ok.checkout.state, "completed");
});

Deno.test("a hold that lapses expires the checkout; a late code is recorded as needs_refund", async () => {
  await using h = await startHarness();
  const { checkout } = await json<CheckoutJson>(
    await h.req("/api/kiosk/checkouts", {
      body: { machine_id: 4, price_id: "90min", provider: "counter" },
    }),
    201,
  );
  h.clock.advance(120_000);
  await waitFor(() => h.node.link.machine(4)?.status === "available", { message: "hold lapsed" });
  const expired = await json<CheckoutJson>(await h.req(`/api/kiosk/checkouts/${checkout.id}`), 200);
  assert.equal(expired.checkout.state, "expired");
  assert.match(expired.checkout.message ?? "", /lapsed/);

  const late = await json<
    { error: { code: string; message: string }; checkout: { state: string } }
  >(
    await h.req(`/api/kiosk/checkouts/${checkout.id}/code`, { body: { code: COUNTER_CODE } }),
    409,
  );
  assert.equal(late.checkout.state, "needs_refund");
  assert.match(late.error.message, new RegExp(`reference ${checkout.reference}`));
  // Nothing was activated after the lapse.
  assert.equal(h.handler.commands.filter((c) => c.action === "activate").length, 0);
  assert.equal(h.handler.state(4).status, "available");

  const { cookie, csrf } = await h.login();
  const open = await json<{ checkouts: Array<{ id: string; message: string }> }>(
    await h.req("/api/admin/checkouts?state=needs_refund", { headers: { Cookie: cookie } }),
    200,
  );
  assert.equal(open.checkouts.length, 1);
  assert.match(open.checkouts[0].message, /refund/);
  const resolved = await json<{ checkout: { state: string; resolved_note: string } }>(
    await h.req(`/api/admin/checkouts/${checkout.id}/resolve`, {
      body: { note: "refunded in cash" },
      headers: { Cookie: cookie, "X-CSRF-Token": csrf },
    }),
    200,
  );
  assert.equal(resolved.checkout.state, "refunded");
});

Deno.test("cancelling a checkout releases the hold at once", async () => {
  await using h = await startHarness();
  const { checkout } = await json<CheckoutJson>(
    await h.req("/api/kiosk/checkouts", {
      body: { machine_id: 1, price_id: "30min", provider: "counter" },
    }),
    201,
  );
  const res = await json<CheckoutJson>(
    await h.req(`/api/kiosk/checkouts/${checkout.id}/cancel`, { method: "POST" }),
    200,
  );
  assert.equal(res.checkout.state, "cancelled");
  await waitFor(() => h.node.link.machine(1)?.status === "available", { message: "released" });
  // A second cancel is harmless; a code afterwards is a late payment, not an activation.
  await json(await h.req(`/api/kiosk/checkouts/${checkout.id}/cancel`, { method: "POST" }), 200);
  assert.equal(h.handler.commands.filter((c) => c.action === "release").length, 1);
});

Deno.test("kiosk checkout bodies are validated with clear messages", async () => {
  await using h = await startHarness();
  const bad = await json<{ error: { code: string; message: string } }>(
    await h.req("/api/kiosk/checkouts", { body: { machine_id: "two", price_id: "30min" } }),
    400,
  );
  assert.equal(bad.error.code, "invalid_request");
  assert.match(bad.error.message, /machine_id/);
  assert.match(bad.error.message, /provider/);

  const notJson = await json<{ error: { message: string } }>(
    await h.req("/api/kiosk/checkouts", { body: "{nope" }),
    400,
  );
  assert.match(notJson.error.message, /not valid JSON/);

  // A cross-site "simple" request (text/plain) cannot hold bays.
  const plain = await json<{ error: { message: string } }>(
    await h.req("/api/kiosk/checkouts", {
      body: { machine_id: 1, price_id: "30min", provider: "counter" },
      headers: { "Content-Type": "text/plain" },
    }),
    415,
  );
  assert.match(plain.error.message, /Content-Type: application\/json/);

  const price = await json<{ error: { message: string } }>(
    await h.req("/api/kiosk/checkouts", {
      body: { machine_id: 1, price_id: "5min", provider: "counter" },
    }),
    400,
  );
  assert.match(price.error.message, /Unknown price '5min'.*30min, 60min, 90min/);

  const provider = await json<{ error: { code: string } }>(
    await h.req("/api/kiosk/checkouts", {
      body: { machine_id: 1, price_id: "30min", provider: "bitcoin" },
    }),
    409,
  );
  assert.equal(provider.error.code, "provider_disabled");

  const unknownBay = await json<{ error: { code: string; message: string } }>(
    await h.req("/api/kiosk/checkouts", {
      body: { machine_id: 77, price_id: "30min", provider: "counter" },
    }),
    404,
  );
  assert.equal(unknownBay.error.code, "unknown_machine");
  assert.match(unknownBay.error.message, /no bay 77/);

  const missing = await json<{ error: { code: string } }>(
    await h.req("/api/kiosk/checkouts/chk_nope"),
    404,
  );
  assert.equal(missing.error.code, "not_found");
  assert.equal(h.node.link.machine(1)?.status, "available");
});

Deno.test("a handler that does not answer gives 504 with what to do next", async () => {
  await using h = await startHarness();
  h.handler.mute = true;
  const pending = h.req("/api/kiosk/checkouts", {
    body: { machine_id: 1, price_id: "30min", provider: "counter" },
  });
  await waitFor(() => h.node.link.rpcStats().kiosk.sent > 1, { message: "hold sent" });
  h.clock.advance(5_000);
  const res = await json<{ error: { code: string; message: string } }>(await pending, 504);
  assert.equal(res.error.code, "timeout");
  assert.match(res.error.message, /check the bay's status/);
});

Deno.test("one kiosk may keep at most two checkouts waiting for payment", async () => {
  await using h = await startHarness();
  const begin = (machine_id: number, ip: string) =>
    h.req("/api/kiosk/checkouts", {
      body: { machine_id, price_id: "30min", provider: "counter" },
      ip,
    });
  const first = await json<CheckoutJson>(await begin(1, "10.0.0.5"), 201);
  await json(await begin(2, "10.0.0.5"), 201);
  const third = await json<{ error: { code: string; message: string } }>(
    await begin(3, "10.0.0.5"),
    429,
  );
  assert.equal(third.error.code, "too_many_checkouts");
  assert.match(third.error.message, /Finish or cancel/);
  assert.equal(h.handler.state(3).status, "available");
  await json(await begin(3, "10.0.0.6"), 201);
  await json(
    await h.req(`/api/kiosk/checkouts/${first.checkout.id}/cancel`, { method: "POST" }),
    200,
  );
  await waitFor(() => h.node.link.machine(1)?.status === "available", { message: "released" });
  await json(await begin(1, "10.0.0.5"), 201);
});

Deno.test("after a restart, open checkouts expire on time and unconfirmed ones are settled", async () => {
  await using h = await startHarness();
  const begin = (machine_id: number) =>
    h.req("/api/kiosk/checkouts", {
      body: { machine_id, price_id: "30min", provider: "counter" },
      ip: `10.0.1.${machine_id}`,
    });
  const waiting = (await json<CheckoutJson>(await begin(1), 201)).checkout;
  const starting = (await json<CheckoutJson>(await begin(2), 201)).checkout;
  // As if the hub died between taking the money and hearing back from the handler.
  const store = h.node.deps.store;
  store.updateCheckout(starting.id, { state: "paid", paid_by: "staff:anna" }, h.clock.now());

  const second = await h.restartNode();
  const get = (id: string) => second.deps.store.getCheckout(id);
  assert.equal(get(starting.id)?.state, "needs_refund");
  assert.match(get(starting.id)?.message ?? "", /restarted while starting bay 2/);
  // The bay turns out to run that session: no refund needed after all.
  const row = get(starting.id)!;
  await h.handler.put(2, {
    status: "active",
    hold: null,
    session: {
      session_id: row.session_id,
      origin: "kiosk",
      started_at: h.clock.now(),
      paid_s: 1800,
      paid_until: h.clock.now() + 1_800_000,
      remaining_ms: null,
      amount_cents: 800,
      group_id: null,
    },
  });
  await waitFor(() => get(starting.id)?.state === "completed", { message: "reconciled" });
  // The other checkout's hold timer was re-armed by the new node.
  assert.equal(get(waiting.id)?.state, "pending");
  h.clock.advance(120_000);
  await waitFor(() => get(waiting.id)?.state === "expired", { message: "expired" });
});
