/**
 * Topic builders and parsers. Every topic string in the code base comes from here.
 *
 * @module
 */
import { MachineId, NodeId } from "./common.ts";

/** A topic could not be built or parsed. */
export class TopicError extends RangeError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TopicError";
  }
}

function machineId(id: number): number {
  const parsed = MachineId.safeParse(id);
  if (!parsed.success) throw new TopicError(`Invalid machine id in topic: ${id}`);
  return parsed.data;
}

function nodeId(origin: string): string {
  const parsed = NodeId.safeParse(origin);
  if (!parsed.success) {
    throw new TopicError(`Invalid node name in topic: ${JSON.stringify(origin)}`);
  }
  return parsed.data;
}

/** Per-machine topic kinds, `machines/{id}/{kind}`. */
export const machineTopicKinds = [
  "update",
  "response",
  "availability",
  "heartbeat",
  "state",
] as const;
export type MachineTopicKind = typeof machineTopicKinds[number];

export const topics = {
  commands: "machines/commands",
  statusRequest: "machines/status/request",
  statusResponse: "machines/status/response",
  timerSet: "timer/set",
  timerSetBatch: "timer/set_batch",
  timerExpired: "timer/expired",
  timerWarning: "timer/warning",
  hubAvailability: "hub/availability",
  hubAlerts: "hub/alerts",
  /** `machines/responses/{origin}`: the handler's replies to one origin node. */
  originResponses: (origin: string) => `machines/responses/${nodeId(origin)}`,
  /** `timer/responses/{origin}`: the timer's replies to one origin node. */
  timerResponses: (origin: string) => `timer/responses/${nodeId(origin)}`,
  machine: (id: number, kind: MachineTopicKind) => `machines/${machineId(id)}/${kind}`,
  update: (id: number) => topics.machine(id, "update"),
  deviceResponse: (id: number) => topics.machine(id, "response"),
  availability: (id: number) => topics.machine(id, "availability"),
  heartbeat: (id: number) => topics.machine(id, "heartbeat"),
  state: (id: number) => topics.machine(id, "state"),
  /** Subscription filter for one kind of per-machine topic across all machines. */
  allMachines: (kind: MachineTopicKind) => `machines/+/${kind}`,
} as const;

const machineTopic = /^machines\/([1-9][0-9]{0,4})\/([a-z]+)$/;

/** Parses `machines/{id}/{kind}`; returns null for any other topic. */
export function parseMachineTopic(
  topic: string,
): { machine_id: number; kind: MachineTopicKind } | null {
  const m = machineTopic.exec(topic);
  if (!m) return null;
  const kind = m[2] as MachineTopicKind;
  if (!machineTopicKinds.includes(kind)) return null;
  return { machine_id: Number(m[1]), kind };
}

/** Parses `machines/responses/{origin}`; returns the origin or null. */
export function parseOriginResponsesTopic(topic: string): string | null {
  const prefix = "machines/responses/";
  if (!topic.startsWith(prefix)) return null;
  const origin = topic.slice(prefix.length);
  return NodeId.safeParse(origin).success ? origin : null;
}

/** MQTT topic filter matching (`+` one level, `#` the rest). */
export function topicMatches(filter: string, topic: string): boolean {
  if (filter === topic) return true;
  return topicLevelsMatch(filter.split("/"), topic.split("/"));
}

/** {@linkcode topicMatches} on a filter and a topic already split at `/` (hot paths split once). */
export function topicLevelsMatch(f: readonly string[], t: readonly string[]): boolean {
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return true;
    if (i >= t.length) return false;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}
