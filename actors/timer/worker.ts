/**
 * The timer actor's Worker: serves `timer/set` and `timer/set_batch`, sends `timer/expired` to the
 * machine handler and publishes `timer/warning`, with its timers durable in `timer.db` in the data
 * directory.
 *
 * @module
 */
import { join } from "node:path";
import { runActor } from "../runtime/actor.ts";
import { createSystemBootClock } from "../../lib/boot_clock.ts";
import { TimerConfig } from "../../lib/config.ts";
import { topics } from "../../protocol/topics.ts";
import { TimerService } from "./timer_service.ts";
import { TimerStore } from "./store.ts";

runActor((ctx) => {
  const config = TimerConfig.parse(ctx.config ?? {});
  const store = TimerStore.open(join(ctx.dataDir, "timer.db"));
  const service = new TimerService({
    store,
    clock: ctx.clock,
    bootClock: createSystemBootClock(ctx.clock),
    warningsS: config.warnings_s,
    attemptTimeoutMs: config.expiry_attempt_timeout_ms,
    retryMaxMs: config.expiry_retry_max_ms,
    logger: ctx.log,
    deliverExpiry: (request, { correlationId, timeoutMs }) =>
      ctx.rpc.request(topics.timerExpired, request, { correlationId, timeoutMs }),
    publishWarning: (warning) =>
      ctx.mqtt.publish(topics.timerWarning, JSON.stringify(warning), { qos: 0 }),
  });
  return {
    async start() {
      service.start();
      await ctx.server.handle(topics.timerSet, (req) => service.submit(req));
      await ctx.server.handle(topics.timerSetBatch, (req) => service.submitBatch(req));
    },
    stop() {
      service.stop();
      store.close();
      return Promise.resolve();
    },
    health() {
      const h = service.health();
      return { ok: service.running, detail: { ...h } };
    },
  };
});
