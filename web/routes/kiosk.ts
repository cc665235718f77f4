/**
 * Kiosk endpoints (no login): the purchase flow. A checkout holds the bay while the customer
 * pays; a staff code (pay at the counter) or the provider's webhook (card or phone) confirms the
 * payment and the bay starts. Routes are mounted under `/api/kiosk`.
 *
 * @module
 */
import { Hono } from "hono";
import type { WebDeps } from "../app.ts";
import { clientKey, errorPayload, readBody, type WebEnv } from "../http.ts";
import { CheckoutBody, CounterCodeBody } from "../schemas.ts";
import { bayView } from "../views.ts";
import { machineConfigs } from "./common.ts";

export function kioskRoutes(deps: WebDeps): Hono<WebEnv> {
  const app = new Hono<WebEnv>();
  const configs = machineConfigs(deps.config);

  const machineOf = (id: number) => {
    const state = deps.link.machine(id);
    return state ? bayView(id, state, configs.get(id), deps.clock.now()) : null;
  };

  app.post("/checkouts", async (c) => {
    const body = await readBody(c, CheckoutBody);
    const rec = await deps.checkouts.begin(body, clientKey(c));
    return c.json({ checkout: deps.checkouts.view(rec), machine: machineOf(rec.machine_id) }, 201);
  });

  app.get("/checkouts/:id", (c) => {
    const rec = deps.checkouts.get(c.req.param("id"));
    return c.json({ checkout: deps.checkouts.view(rec), machine: machineOf(rec.machine_id) });
  });

  app.post("/checkouts/:id/code", async (c) => {
    const { code } = await readBody(c, CounterCodeBody);
    const outcome = await deps.checkouts.confirmCode(c.req.param("id"), code, clientKey(c));
    const checkout = deps.checkouts.view(outcome.checkout);
    const machine = machineOf(outcome.checkout.machine_id);
    if (outcome.error) {
      const e = outcome.error;
      return c.json({ ...errorPayload(e.code, e.message, e.details), checkout, machine }, e.status);
    }
    return c.json({ checkout, machine });
  });

  app.post("/checkouts/:id/cancel", async (c) => {
    const rec = await deps.checkouts.cancel(c.req.param("id"));
    return c.json({ checkout: deps.checkouts.view(rec), machine: machineOf(rec.machine_id) });
  });

  return app;
}
