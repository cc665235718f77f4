/**
 * The hub's actors: each runs in its own Worker. `deno task compile` includes this folder so the
 * compiled binary can spawn them.
 *
 * @module
 */
import type { HubConfig } from "../lib/config.ts";
import type { ActorSpec } from "./runtime/supervisor.ts";

/** The actors `serve` starts, with their slice of the configuration. */
export function hubActors(config: HubConfig): ActorSpec[] {
  return [
    {
      name: "machine_handler",
      url: new URL("./machine_handler/worker.ts", import.meta.url),
      config: { machines: config.machines, handler: config.handler },
    },
    { name: "timer", url: new URL("./timer/worker.ts", import.meta.url), config: config.timer },
  ];
}
