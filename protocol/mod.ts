/**
 * dispenser-hub's MQTT protocol: schemas, topics and the topic-keyed contract.
 *
 * @module
 */
export * from "./common.ts";
export * from "./names.ts";
export * from "./machine.ts";
export * from "./command.ts";
export * from "./device.ts";
export * from "./status.ts";
export * from "./timer.ts";
export * from "./hub.ts";
export * from "./topics.ts";
export * from "./api.ts";
