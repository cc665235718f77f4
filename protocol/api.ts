/**
 * The API contract: one topic-keyed map of every message on the bus. Every other module takes
 * its types from here (`z.infer`), and `deno task schema` turns it into JSON Schema, AsyncAPI and
 * the firmware developer's reference.
 *
 * @module
 */
import { z } from "zod";
import { responseOf } from "./common.ts";
import { CommandResult, MachineCommand } from "./command.ts";
import { DeviceAck, DeviceAvailability, DeviceHeartbeat, DeviceUpdate } from "./device.ts";
import { Alert, HubAvailability } from "./hub.ts";
import { MachineState } from "./machine.ts";
import { StatusData, StatusRequest } from "./status.ts";
import {
  TimerBatchResult,
  TimerExpired,
  TimerExpiredResult,
  TimerSet,
  TimerSetBatch,
  TimerState,
  TimerWarning,
} from "./timer.ts";
import { topics } from "./topics.ts";

export interface TopicSpec {
  /** Who publishes -> who subscribes. */
  readonly from: string;
  readonly to: string;
  readonly summary: string;
  readonly payload: z.ZodType;
  readonly qos: 0 | 1;
  readonly retain: boolean;
}

/** Every topic, keyed by its pattern (`{id}` is a machine id, `{origin}` a node name). */
export const api = {
  "machines/commands": {
    from: "any node",
    to: "machine_handler",
    summary: "Status change request for one bay (activate, deactivate, extend, pause, ...)",
    payload: MachineCommand,
    qos: 1,
    retain: false,
  },
  "machines/responses/{origin}": {
    from: "machine_handler",
    to: "origin node",
    summary: "Reply to a command or to timer/expired, correlated by correlation_id",
    payload: responseOf(z.union([CommandResult, TimerExpiredResult])),
    qos: 1,
    retain: false,
  },
  "machines/status/request": {
    from: "any node",
    to: "machine_handler",
    summary: "Ask for the state of all or some bays",
    payload: StatusRequest,
    qos: 1,
    retain: false,
  },
  "machines/status/response": {
    from: "machine_handler",
    to: "requesting node",
    summary: "Bay states, correlated by correlation_id",
    payload: responseOf(StatusData),
    qos: 1,
    retain: false,
  },
  "machines/{id}/update": {
    from: "machine_handler",
    to: "dispenser {id}",
    summary: "Desired state of the dispenser, with version, deadline and seconds remaining",
    payload: DeviceUpdate,
    qos: 1,
    retain: false,
  },
  "machines/{id}/response": {
    from: "dispenser {id}",
    to: "machine_handler",
    summary: "Acknowledgment of one update version",
    payload: DeviceAck,
    qos: 1,
    retain: false,
  },
  "machines/{id}/availability": {
    from: "dispenser {id}",
    to: "machine_handler",
    summary: "Birth message (online) and last will (offline) of a dispenser",
    payload: DeviceAvailability,
    qos: 1,
    retain: true,
  },
  "machines/{id}/heartbeat": {
    from: "dispenser {id}",
    to: "machine_handler",
    summary: "Periodic liveness with ball level and fault",
    payload: DeviceHeartbeat,
    qos: 0,
    retain: false,
  },
  "machines/{id}/state": {
    from: "machine_handler",
    to: "any node (kiosk, admin, web)",
    summary: "The bay's state after every change (retained, so new subscribers see it at once)",
    payload: MachineState,
    qos: 0,
    retain: true,
  },
  "timer/set": {
    from: "machine_handler",
    to: "timer",
    summary: "Arm, extend, pause, resume or cancel a session's timer",
    payload: TimerSet,
    qos: 1,
    retain: false,
  },
  "timer/set_batch": {
    from: "machine_handler",
    to: "timer",
    summary: "Several timer/set operations in one request, committed together, answered each",
    payload: TimerSetBatch,
    qos: 1,
    retain: false,
  },
  "timer/responses/{origin}": {
    from: "timer",
    to: "origin node",
    summary: "Reply to timer/set (the timer as it now stands) or timer/set_batch (one per op)",
    payload: responseOf(z.union([TimerState, TimerBatchResult])),
    qos: 1,
    retain: false,
  },
  "timer/expired": {
    from: "timer",
    to: "machine_handler",
    summary: "A session's paid time is over; answered on machines/responses/timer",
    payload: TimerExpired,
    qos: 1,
    retain: false,
  },
  "timer/warning": {
    from: "timer",
    to: "any node, dispensers",
    summary: "A session is about to end",
    payload: TimerWarning,
    qos: 0,
    retain: false,
  },
  "hub/availability": {
    from: "hub nodes",
    to: "any",
    summary: "Hub node online (birth) / offline (last will)",
    payload: HubAvailability,
    qos: 1,
    retain: true,
  },
  "hub/alerts": {
    from: "machine_handler",
    to: "admin",
    summary: "Something staff should look at",
    payload: Alert,
    qos: 1,
    retain: false,
  },
} as const satisfies Record<string, TopicSpec>;

export type ApiTopic = keyof typeof api;
/** The payload type of a topic. */
export type Payload<T extends ApiTopic> = z.infer<typeof api[T]["payload"]>;

/** One request/response pair over MQTT. */
export interface RpcSpec<Req extends z.ZodType = z.ZodType, Data extends z.ZodType = z.ZodType> {
  readonly request: Req;
  readonly data: Data;
  /** The topic the responder publishes the reply on, for a given origin. */
  readonly replyTopic: (origin: string) => string;
}

function rpcSpec<Req extends z.ZodType, Data extends z.ZodType>(
  request: Req,
  data: Data,
  replyTopic: (origin: string) => string,
): RpcSpec<Req, Data> {
  return { request, data, replyTopic };
}

/** The request/response pairs of the hub, keyed by request topic. */
export const rpc = {
  [topics.commands]: rpcSpec(MachineCommand, CommandResult, topics.originResponses),
  [topics.statusRequest]: rpcSpec(StatusRequest, StatusData, () => topics.statusResponse),
  [topics.timerSet]: rpcSpec(TimerSet, TimerState, topics.timerResponses),
  [topics.timerSetBatch]: rpcSpec(TimerSetBatch, TimerBatchResult, topics.timerResponses),
  [topics.timerExpired]: rpcSpec(TimerExpired, TimerExpiredResult, topics.originResponses),
} as const;

export type RpcContract = Record<string, RpcSpec>;
export type HubRpc = typeof rpc;
