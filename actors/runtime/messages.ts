/**
 * Messages between the supervisor (main thread) and an actor's Worker.
 *
 * @module
 */
import { z } from "zod";

export const ToWorker = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("start"),
    name: z.string(),
    hub_id: z.string(),
    mqtt_url: z.string(),
    data_dir: z.string(),
    config: z.unknown(),
  }),
  z.object({ type: z.literal("stop") }),
  z.object({ type: z.literal("ping"), seq: z.number().int() }),
]);
export type ToWorker = z.infer<typeof ToWorker>;

export const ActorHealth = z.object({
  ok: z.boolean(),
  detail: z.record(z.string(), z.unknown()).optional(),
});
export type ActorHealth = z.infer<typeof ActorHealth>;

export const FromWorker = z.discriminatedUnion("type", [
  z.object({ type: z.literal("ready") }),
  z.object({ type: z.literal("stopped") }),
  z.object({ type: z.literal("pong"), seq: z.number().int(), health: ActorHealth }),
  z.object({ type: z.literal("fatal"), message: z.string() }),
]);
export type FromWorker = z.infer<typeof FromWorker>;
