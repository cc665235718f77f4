/**
 * The hub's HTTP application (Hono): sub-apps for health and metrics, status and live events,
 * kiosk, admin, webhooks and pages, mounted with `app.route()`. Every error leaves as
 * `{"error": {"code", "message"}}` with a fitting status. docs/http_api.md describes every
 * endpoint.
 *
 * @module
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { ActorStatus } from "../actors/runtime/supervisor.ts";
import type { Clock } from "../lib/clock.ts";
import type { HubConfig } from "../lib/config.ts";
import type { Logger } from "../lib/log.ts";
import type { AdminAuth } from "./auth/admin_auth.ts";
import type { EventBus } from "./event_bus.ts";
import { errorPayload, errorResponse, toWebError, type WebEnv, WebError } from "./http.ts";
import type { HubLink } from "./hub_link.ts";
import type { LedgerReader } from "./ledger.ts";
import type { Histogram } from "./metrics.ts";
import type { Checkouts } from "./payments/checkouts.ts";
import { adminRoutes } from "./routes/admin.ts";
import { healthRoutes } from "./routes/health.ts";
import { kioskRoutes } from "./routes/kiosk.ts";
import { pageRoutes } from "./routes/pages.ts";
import { statusRoutes } from "./routes/status.ts";
import { webhookRoutes } from "./routes/webhooks.ts";
import type { Settings } from "./settings.ts";
import type { WebStore } from "./store.ts";

/** Everything the routes use; {@linkcode startWebNode} in `node.ts` builds it. */
export interface WebDeps {
  config: HubConfig;
  link: HubLink;
  bus: EventBus;
  store: WebStore;
  settings: Settings;
  checkouts: Checkouts;
  auth: AdminAuth;
  /** RPC round trips of the web node, fed by the hub link. */
  latency: Histogram;
  /** Webhook deliveries by "source status". */
  webhookCounts: Map<string, number>;
  /** Open event streams, and the signal that ends them all at shutdown. */
  sse: { open: number; shutdown: AbortController };
  actors: () => ActorStatus[];
  /** The machine handler's ledger (read-only); rejects with a 503 WebError when unavailable. */
  ledger: () => Promise<LedgerReader>;
  clock: Clock;
  logger: Logger;
  /** Where the UI bundles are (default: `dist/ui/` of this source tree or binary). */
  assetDir?: URL;
}

/** Largest JSON body the API accepts. */
export const MAX_BODY_BYTES = 64 * 1024;

export function createApp(deps: WebDeps): Hono<WebEnv> {
  const app = new Hono<WebEnv>();

  app.onError((err, c) => {
    const e = toWebError(err);
    if (e.status >= 500) {
      deps.logger.error("request failed", { method: c.req.method, path: c.req.path, error: err });
    }
    return errorResponse(c, e);
  });
  app.notFound((c) =>
    c.json(errorPayload("not_found", `No such endpoint: ${c.req.method} ${c.req.path}`), 404)
  );
  const limit = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: () => {
      throw new WebError(413, "payload_too_large", `Bodies are limited to ${MAX_BODY_BYTES} bytes`);
    },
  });
  app.use("/api/*", limit);
  app.use("/webhooks/*", limit);

  app.route("/", healthRoutes(deps));
  app.route("/", statusRoutes(deps));
  app.route("/api/kiosk", kioskRoutes(deps));
  app.route("/api/admin", adminRoutes(deps));
  app.route("/webhooks", webhookRoutes(deps));
  app.route("/", pageRoutes(deps));
  return app;
}
