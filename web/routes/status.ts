/**
 * `GET /api/status` (every bay, the layout and the price list) and `GET /api/events` (Server-Sent
 * Events: the same snapshot first on every connection, then live changes and heartbeats).
 *
 * @module
 */
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import type { TimerHandle } from "../../lib/clock.ts";
import type { WebDeps } from "../app.ts";
import type { HubEvent } from "../event_bus.ts";
import type { WebEnv } from "../http.ts";
import { bayView, bayViews, layoutOf, type StatusView } from "../views.ts";
import { machineConfigs } from "./common.ts";

/** An SSE client that falls this many events behind is disconnected (it reconnects fresh). */
const MAX_QUEUED_EVENTS = 2_000;

export function statusView(deps: WebDeps): StatusView {
  const now = deps.clock.now();
  const settings = deps.settings.get();
  return {
    generated_at: now,
    broker_connected: deps.link.connected,
    kiosk_title: settings.kiosk_title,
    currency: deps.config.web.currency,
    hold_s: settings.hold_s,
    prices: settings.prices,
    payment_providers: deps.checkouts.providers().map((p) => ({ id: p.id, label: p.label })),
    layout: layoutOf(deps.config.machines),
    machines: bayViews(deps.config.machines, deps.link.machines(), now),
  };
}

export function statusRoutes(deps: WebDeps): Hono<WebEnv> {
  const app = new Hono<WebEnv>();
  const configs = machineConfigs(deps.config);

  app.get("/api/status", (c) => {
    c.header("Cache-Control", "no-store");
    return c.json(statusView(deps));
  });

  app.get("/api/events", (c) =>
    streamSSE(c, async (stream) => {
      const queue: Array<{ event: string; data: unknown }> = [];
      let wake: (() => void) | null = null;
      let closed = false;
      const push = (event: string, data: unknown) => {
        if (queue.length >= MAX_QUEUED_EVENTS) {
          closed = true;
        } else {
          queue.push({ event, data });
        }
        wake?.();
      };
      const unsubscribe = deps.bus.subscribe((ev: HubEvent) => {
        switch (ev.type) {
          case "machine":
            push(
              "machine",
              bayView(
                ev.machine.machine_id,
                ev.machine,
                configs.get(ev.machine.machine_id),
                deps.clock.now(),
              ),
            );
            break;
          case "alert":
            push("alert", ev.alert);
            break;
          case "warning":
            push("warning", ev.warning);
            break;
          case "checkout":
            push("checkout", ev.checkout);
            break;
          case "settings": {
            const s = deps.settings.get();
            push("settings", { kiosk_title: s.kiosk_title, hold_s: s.hold_s, prices: s.prices });
            break;
          }
          case "connection":
            push("connection", { broker_connected: ev.broker_connected });
            break;
        }
      });
      const heartbeatMs = deps.config.web.sse_heartbeat_s * 1000;
      let heartbeat: TimerHandle | null = null;
      const beat = () => {
        heartbeat = deps.clock.setTimeout(() => {
          push("heartbeat", { now: deps.clock.now() });
          beat();
        }, heartbeatMs);
      };
      deps.sse.open++;
      const end = () => {
        closed = true;
        wake?.();
      };
      stream.onAbort(end);
      const shutdown = deps.sse.shutdown.signal;
      if (shutdown.aborted) closed = true;
      shutdown.addEventListener("abort", end);
      try {
        // Subscribed first, so nothing between the snapshot and the first live event is lost.
        await stream.writeSSE({
          event: "snapshot",
          data: JSON.stringify(statusView(deps)),
          retry: 2000,
        });
        beat();
        while (!closed) {
          const next = queue.shift();
          if (!next) {
            await new Promise<void>((r) => wake = r);
            wake = null;
            continue;
          }
          await stream.writeSSE({ event: next.event, data: JSON.stringify(next.data) });
        }
      } finally {
        unsubscribe();
        shutdown.removeEventListener("abort", end);
        if (heartbeat !== null) deps.clock.clearTimeout(heartbeat);
        deps.sse.open--;
      }
    }));

  return app;
}
