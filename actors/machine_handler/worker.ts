/**
 * The machine handler's Worker: the supervisor starts this module (see `actors/mod.ts`).
 *
 * @module
 */
import { runActor } from "../runtime/actor.ts";
import { MachineHandler } from "./machine_handler.ts";

runActor((ctx) =>
  new MachineHandler({
    name: ctx.name,
    config: ctx.config,
    dataDir: ctx.dataDir,
    mqtt: ctx.mqtt,
    rpc: ctx.rpc,
    clock: ctx.clock,
    log: ctx.log,
  }), { availability: true });
