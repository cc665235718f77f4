/**
 * `POST /webhooks/{source}`: signed deliveries from third parties (see docs/webhooks.md).
 * Order of checks: known source (404), size (413), signature and timestamp (401), JSON and schema
 * (400), event type allowed for the source (403), replay (200 with the first outcome), effect.
 * The first definitive outcome (any status below 500) is stored in web.db under the event id, so
 * a replay, even after a restart, gets it back and nothing is applied twice. A 5xx outcome (hub
 * busy, handler not answering) is not stored: the sender retries, and the command's idempotency
 * key keeps the handler from applying it twice.
 *
 * @module
 */
import { Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { WebDeps } from "../app.ts";
import { errorPayload, toWebError, type WebEnv, WebError } from "../http.ts";
import { bump } from "../metrics.ts";
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifyWebhook } from "../webhooks/signature.ts";
import { WebhookEvent } from "../webhooks/events.ts";
import { summarizeIssues } from "../../lib/rpc_client.ts";
import { commandOutcome } from "./common.ts";

export const MAX_WEBHOOK_BYTES = 64 * 1024;

interface Outcome {
  status: ContentfulStatusCode;
  body: Record<string, unknown>;
}

export function webhookRoutes(deps: WebDeps): Hono<WebEnv> {
  const app = new Hono<WebEnv>();
  const inFlight = new Map<string, Promise<Outcome>>();

  app.post("/:source", async (c) => {
    const source = c.req.param("source");
    const done = (o: Outcome, extraHeaders: Record<string, string> = {}) => {
      bump(deps.webhookCounts, source, String(o.status));
      for (const [k, v] of Object.entries(extraHeaders)) c.header(k, v);
      return c.json(o.body, o.status);
    };
    const fail = (e: WebError) =>
      done({
        status: e.status,
        body: errorPayload(e.code, e.message, e.details) as unknown as Record<string, unknown>,
      });

    const cfg = Object.hasOwn(deps.config.web.webhooks, source)
      ? deps.config.web.webhooks[source]
      : undefined;
    if (!cfg) {
      return fail(
        new WebError(
          404,
          "unknown_source",
          `No webhook source '${source}' is configured on this hub.`,
        ),
      );
    }
    const raw = new Uint8Array(await c.req.arrayBuffer());
    if (raw.length > MAX_WEBHOOK_BYTES) {
      return fail(
        new WebError(
          413,
          "payload_too_large",
          `Body is ${raw.length} bytes; the limit is ${MAX_WEBHOOK_BYTES}.`,
        ),
      );
    }
    const check = await verifyWebhook({
      secret: cfg.secret,
      timestamp: c.req.header(TIMESTAMP_HEADER),
      signature: c.req.header(SIGNATURE_HEADER),
      body: raw,
      nowMs: deps.clock.now(),
    });
    if (!check.ok) {
      return fail(
        new WebError(
          401,
          check.reason === "stale" ? "stale_timestamp" : "bad_signature",
          check.message,
        ),
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(raw));
    } catch (err) {
      return fail(
        new WebError(
          400,
          "invalid_request",
          `The body is not valid JSON: ${(err as Error).message}`,
        ),
      );
    }
    const parsed = WebhookEvent.safeParse(json);
    if (!parsed.success) {
      return fail(
        new WebError(400, "invalid_request", `Invalid event: ${summarizeIssues(parsed.error)}`, {
          details: parsed.error.issues.slice(0, 20).map((i) => ({
            path: i.path.map(String),
            message: i.message,
          })),
        }),
      );
    }
    const event = parsed.data;
    if (!cfg.events.includes(event.type)) {
      return fail(
        new WebError(
          403,
          "event_not_allowed",
          `Source '${source}' may not send ${event.type} (allowed: ${cfg.events.join(", ")}).`,
        ),
      );
    }

    const key = `${source}\n${event.id}`;
    const first = deps.store.getWebhookDelivery(source, event.id);
    if (first) {
      return done(replayOf(first.status, first.body as Record<string, unknown>), {
        "X-Hub-Replay": "true",
      });
    }
    const running = inFlight.get(key);
    if (running) {
      const o = await running;
      return done(replayOf(o.status, o.body), { "X-Hub-Replay": "true" });
    }
    const work = apply(deps, source, event).catch((err) => {
      const e = toWebError(err);
      return {
        status: e.status,
        body: errorPayload(e.code, e.message, e.details) as unknown as Record<string, unknown>,
      };
    }).then((o) => {
      const body = { event_id: event.id, type: event.type, ...o.body };
      if (o.status < 500) {
        deps.store.putWebhookDelivery({
          source,
          event_id: event.id,
          type: event.type,
          status: o.status,
          body,
          received_at: deps.clock.now(),
        });
      }
      return { status: o.status, body };
    });
    inFlight.set(key, work);
    try {
      return done(await work);
    } finally {
      inFlight.delete(key);
    }
  });

  return app;
}

function replayOf(status: number, body: Record<string, unknown>): Outcome {
  return { status: 200, body: { ...body, replay: true, first_status: status } };
}

async function apply(deps: WebDeps, source: string, event: WebhookEvent): Promise<Outcome> {
  switch (event.type) {
    case "payment.succeeded":
    case "payment.failed": {
      if (deps.config.web.external_payments.webhook_source !== source) {
        throw new WebError(
          403,
          "event_not_allowed",
          `Payment events are accepted only from the configured payment source ` +
            `(web.external_payments.webhook_source), not from '${source}'.`,
        );
      }
      if (event.type === "payment.failed") {
        const rec = await deps.checkouts.failExternal(
          event.data.reference,
          event.data.reason ?? null,
        );
        return { status: 200, body: { checkout: deps.checkouts.adminView(rec) } };
      }
      const outcome = await deps.checkouts.confirmExternal(event.data.reference, {
        amount_cents: event.data.amount_cents ?? null,
        payment_id: event.data.payment_id ?? null,
      });
      // The payment is recorded either way; a refusal to start the bay is the hub's to settle
      // (needs_refund), not the provider's to retry.
      return { status: 200, body: { checkout: deps.checkouts.adminView(outcome.checkout) } };
    }
    case "session.activate": {
      const d = event.data;
      const res = await deps.link.command("webhook", {
        action: "activate",
        machine_id: d.machine_id,
        duration_s: d.duration_s,
        ...(d.amount_cents !== undefined ? { amount_cents: d.amount_cents } : {}),
        ...(d.session_id !== undefined ? { session_id: d.session_id } : {}),
        ...(d.group_id !== undefined ? { group_id: d.group_id } : {}),
        idempotency_key: `webhook:${source}:${event.id}`,
      });
      return commandOutcome(deps, res);
    }
  }
}
