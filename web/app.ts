/**
 * The hub's HTTP application (Hono). Sub-apps are mounted with `app.route()`.
 *
 * @module
 */
import { Hono } from "hono";
import type { ActorStatus } from "../actors/runtime/supervisor.ts";

export interface WebDeps {
  /** Whether the web node's own MQTT connection is up. */
  brokerConnected: () => boolean;
  actors: () => ActorStatus[];
}

export function createApp(deps: WebDeps): Hono {
  const app = new Hono();
  app.get("/healthz", (c) => {
    const actors = deps.actors();
    const broker = deps.brokerConnected();
    const ok = broker && actors.every((a) => a.phase === "running" && a.healthy);
    return c.json(
      { status: ok ? "ok" : "degraded", broker_connected: broker, actors },
      ok ? 200 : 503,
    );
  });
  return app;
}
