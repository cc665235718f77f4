/**
 * `GET /healthz` (200 when the web node's broker connection is up and every actor runs healthy,
 * else 503) and `GET /metrics` (Prometheus text).
 *
 * @module
 */
import { Hono } from "hono";
import type { WebDeps } from "../app.ts";
import type { WebEnv } from "../http.ts";
import { renderMetrics } from "../metrics.ts";

export function healthRoutes(deps: WebDeps): Hono<WebEnv> {
  const app = new Hono<WebEnv>();

  app.get("/healthz", (c) => {
    const actors = deps.actors();
    const broker = deps.link.connected;
    const unhealthy = actors.filter((a) => !(a.phase === "running" && a.healthy)).map((a) =>
      a.name
    );
    const ok = broker && unhealthy.length === 0;
    c.header("Cache-Control", "no-store");
    return c.json({
      status: ok ? "ok" : "degraded",
      broker_connected: broker,
      problems: [
        ...(broker ? [] : ["the web node is not connected to the MQTT broker"]),
        ...unhealthy.map((n) => `actor ${n} is not running healthy`),
      ],
      machines_reported: deps.link.machines().length,
      actors,
    }, ok ? 200 : 503);
  });

  app.get("/metrics", (c) => {
    const text = renderMetrics({
      actors: deps.actors(),
      machines: deps.link.machines(),
      brokerConnected: deps.link.connected,
      webMqttReconnects: deps.link.mqtt.stats.reconnects,
      sseClients: deps.sse.open,
      latency: deps.latency,
      webhooks: deps.webhookCounts,
      checkouts: deps.checkouts.counts,
    });
    return c.body(text, 200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" });
  });

  return app;
}
