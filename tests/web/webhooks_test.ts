import assert from "node:assert/strict";
import { waitFor } from "../helpers/wait.ts";
import { signWebhook } from "../../web/webhooks/signature.ts";
import { json, PAYMENTS_SECRET, startHarness } from "./harness.ts";

type Err = { error: { code: string; message: string } };
type CheckoutJson = { checkout: { id: string; reference: string; state: string; message: string } };

async function externalCheckout(h: Awaited<ReturnType<typeof startHarness>>, machine_id = 1) {
  const { checkout } = await json<
    CheckoutJson & { checkout: { checkout_url: string; instructions: string } }
  >(
    await h.req("/api/kiosk/checkouts", {
      body: { machine_id, price_id: "60min", provider: "external" },
    }),
    201,
  );
  return checkout;
}

Deno.test("payment.succeeded with the checkout reference starts the bay, once", async () => {
  await using h = await startHarness();
  const checkout = await externalCheckout(h, 2);
  assert.equal(
    (checkout as unknown as { checkout_url: string }).checkout_url,
    `https://pay.example.com/c/${encodeURIComponent(checkout.reference)}`,
  );
  const event = {
    id: "evt_1001",
    type: "payment.succeeded",
    data: { reference: checkout.reference, amount_cents: 1400, payment_id: "pi_42" },
  };
  const first = await json<{ event_id: string; checkout: { state: string; paid_by: string } }>(
    await h.webhook("payments", event),
    200,
  );
  assert.equal(first.event_id, "evt_1001");
  assert.equal(first.checkout.state, "completed");
  assert.equal(first.checkout.paid_by, "provider:pi_42");
  assert.equal(h.handler.state(2).status, "active");
  assert.equal(h.handler.state(2).session?.amount_cents, 1400);

  // The provider retries: 200 with the first outcome, nothing applied again.
  const commands = h.handler.commands.length;
  const replay = await h.webhook("payments", event);
  assert.equal(replay.headers.get("X-Hub-Replay"), "true");
  const body = await json<{ replay: boolean; first_status: number; checkout: { state: string } }>(
    replay,
    200,
  );
  assert.equal(body.replay, true);
  assert.equal(body.first_status, 200);
  assert.equal(body.checkout.state, "completed");
  assert.equal(h.handler.commands.length, commands);
});

Deno.test("webhook signatures: bad, missing, malformed and stale deliveries are 401", async () => {
  await using h = await startHarness();
  const event = { id: "evt_sig", type: "payment.failed", data: { reference: "NONE-NONE" } };
  const wrongSecret = await json<Err>(
    await h.webhook("payments", event, { secret: "x".repeat(40) }),
    401,
  );
  assert.equal(wrongSecret.error.code, "bad_signature");
  assert.match(wrongSecret.error.message, /does not match/);

  // A body changed after signing.
  const ts = String(Math.floor(h.clock.now() / 1000));
  const sig = await signWebhook(PAYMENTS_SECRET, ts, JSON.stringify(event));
  const tampered = await h.webhook("payments", event, {
    signature: sig,
    raw: JSON.stringify({ ...event, id: "evt_other" }),
  });
  assert.equal(tampered.status, 401);
  await tampered.body?.cancel();

  const malformed = await json<Err>(
    await h.webhook("payments", event, { signature: "md5=abc" }),
    401,
  );
  assert.match(malformed.error.message, /sha256=/);

  const missing = await json<Err>(
    await h.node.app.request("/webhooks/payments", {
      method: "POST",
      body: JSON.stringify(event),
    }),
    401,
  );
  assert.match(missing.error.message, /Missing X-Hub-Timestamp/);

  const nowS = Math.floor(h.clock.now() / 1000);
  const old = await json<Err>(await h.webhook("payments", event, { timestamp: nowS - 301 }), 401);
  assert.equal(old.error.code, "stale_timestamp");
  assert.match(old.error.message, /301 s/);
  const future = await json<Err>(
    await h.webhook("payments", event, { timestamp: nowS + 301 }),
    401,
  );
  assert.equal(future.error.code, "stale_timestamp");
  // Within the window either way is fine (here: the event is processed, unknown reference).
  await json(await h.webhook("payments", event, { timestamp: nowS - 299 }), 404);
  // Nothing from a rejected delivery was recorded: the same id still processes.
  assert.equal(h.node.deps.store.getWebhookDelivery("payments", "evt_other"), null);
});

Deno.test("webhook bodies are validated (400) before anything happens", async () => {
  await using h = await startHarness();
  const notJson = await json<Err>(await h.webhook("booking", null, { raw: "{oops" }), 400);
  assert.match(notJson.error.message, /not valid JSON/);
  const noId = await json<Err>(
    await h.webhook("booking", { type: "session.activate", data: { machine_id: 1 } }),
    400,
  );
  assert.equal(noId.error.code, "invalid_request");
  assert.match(noId.error.message, /id/);
  assert.match(noId.error.message, /duration_s/);
  const badType = await json<Err>(
    await h.webhook("booking", { id: "e1", type: "session.explode", data: {} }),
    400,
  );
  assert.match(badType.error.message, /type/);
  assert.equal(h.handler.commands.length, 0);
  // A 400 is not remembered: the sender may fix the body and reuse the id.
  assert.equal(h.node.deps.store.getWebhookDelivery("booking", "e1"), null);
});

Deno.test("unknown sources are 404; event types a source may not send are 403", async () => {
  await using h = await startHarness();
  const unknown = await json<Err>(await h.webhook("nobody", { id: "a" }), 404);
  assert.equal(unknown.error.code, "unknown_source");
  const proto = await json<Err>(await h.webhook("__proto__", { id: "a" }), 404);
  assert.equal(proto.error.code, "unknown_source");
  const notAllowed = await json<Err>(
    await h.webhook("booking", {
      id: "evt_pay",
      type: "payment.succeeded",
      data: { reference: "AAAA-BBBB" },
    }),
    403,
  );
  assert.equal(notAllowed.error.code, "event_not_allowed");
  assert.match(notAllowed.error.message, /session\.activate/);
});

Deno.test("session.activate starts a bay as origin webhook; a refusal is replayed as first outcome", async () => {
  await using h = await startHarness();
  const event = {
    id: "bk-77",
    type: "session.activate",
    data: { machine_id: 3, duration_s: 3600, amount_cents: 0, session_id: "booking-77" },
  };
  const ok = await json<
    { action: string; machine: { status: string; session: { origin: string } } }
  >(
    await h.webhook("booking", event),
    200,
  );
  assert.equal(ok.action, "activate");
  assert.equal(ok.machine.status, "active");
  assert.equal(ok.machine.session.origin, "webhook");
  const cmd = h.handler.commands.at(-1);
  assert.equal(cmd?.origin, "webhook");
  assert.equal(cmd?.idempotency_key, "webhook:booking:bk-77");

  // A second booking for the same bay: the handler refuses; 409 with its message.
  const clash = { ...event, id: "bk-78", data: { ...event.data, session_id: "booking-78" } };
  const refused = await json<Err>(await h.webhook("booking", clash), 409);
  assert.equal(refused.error.code, "conflict");
  assert.match(refused.error.message, /Bay 3 is active/);
  const replay = await json<Err & { replay: boolean; first_status: number }>(
    await h.webhook("booking", clash),
    200,
  );
  assert.equal(replay.first_status, 409);
  assert.equal(replay.error.code, "conflict");
  assert.equal(h.handler.commands.length, 2);
});

Deno.test("replay protection survives a restart of the web node (persisted)", async () => {
  await using h = await startHarness();
  const event = {
    id: "bk-1",
    type: "session.activate",
    data: { machine_id: 1, duration_s: 600 },
  };
  await json(await h.webhook("booking", event), 200);
  const second = await h.restartNode();
  const ts = String(Math.floor(h.clock.now() / 1000));
  const raw = JSON.stringify(event);
  const { BOOKING_SECRET } = await import("./harness.ts");
  const res = await second.app.request("/webhooks/booking", {
    method: "POST",
    headers: {
      "X-Hub-Timestamp": ts,
      "X-Hub-Signature": await signWebhook(BOOKING_SECRET, ts, raw),
    },
    body: raw,
  });
  const body = await json<{ replay: boolean; first_status: number }>(res, 200);
  assert.equal(body.replay, true);
  assert.equal(h.handler.commands.length, 1);
});

Deno.test("identical deliveries arriving together are applied once", async () => {
  await using h = await startHarness();
  const event = {
    id: "bk-dup",
    type: "session.activate",
    data: { machine_id: 4, duration_s: 900 },
  };
  const results = await Promise.all([1, 2, 3].map(() => h.webhook("booking", event)));
  const bodies = await Promise.all(results.map((r) => r.json()));
  assert.deepEqual(results.map((r) => r.status), [200, 200, 200]);
  assert.equal(bodies.filter((b) => b.replay === true).length, 2);
  assert.equal(h.handler.commands.length, 1);
});

Deno.test("a payment after the hold lapsed is never activated and is flagged for a refund", async () => {
  await using h = await startHarness();
  const checkout = await externalCheckout(h, 4);
  h.clock.advance(120_000);
  await waitFor(() => h.node.link.machine(4)?.status === "available", { message: "lapse" });
  const res = await json<{ checkout: { state: string; message: string } }>(
    await h.webhook("payments", {
      id: "evt_late",
      type: "payment.succeeded",
      data: { reference: checkout.reference, amount_cents: 1400 },
    }),
    200,
  );
  assert.equal(res.checkout.state, "needs_refund");
  assert.match(res.checkout.message, /after the hold had lapsed/);
  assert.equal(h.handler.commands.filter((c) => c.action === "activate").length, 0);
  assert.equal(h.handler.state(4).status, "available");
});

Deno.test("a payment of the wrong amount is not activated and is flagged for a refund", async () => {
  await using h = await startHarness();
  const checkout = await externalCheckout(h, 1);
  const res = await json<{ checkout: { state: string; message: string } }>(
    await h.webhook("payments", {
      id: "evt_amount",
      type: "payment.succeeded",
      data: { reference: checkout.reference, amount_cents: 100 },
    }),
    200,
  );
  assert.equal(res.checkout.state, "needs_refund");
  assert.match(res.checkout.message, /100 cents but the price is 1400/);
  await waitFor(() => h.node.link.machine(1)?.status === "available", { message: "released" });
});

Deno.test("payment.failed releases the hold; unknown references are 404", async () => {
  await using h = await startHarness();
  const checkout = await externalCheckout(h, 2);
  const res = await json<{ checkout: { state: string; message: string } }>(
    await h.webhook("payments", {
      id: "evt_fail",
      type: "payment.failed",
      data: { reference: checkout.reference, reason: "card declined" },
    }),
    200,
  );
  assert.equal(res.checkout.state, "failed");
  assert.match(res.checkout.message, /card declined/);
  await waitFor(() => h.node.link.machine(2)?.status === "available", { message: "released" });
  const unknown = await json<Err>(
    await h.webhook("payments", {
      id: "evt_unknown",
      type: "payment.succeeded",
      data: { reference: "ZZZZ-ZZZZ" },
    }),
    404,
  );
  assert.equal(unknown.error.code, "unknown_reference");
});
