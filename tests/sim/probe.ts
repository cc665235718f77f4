/**
 * A stand-in for the hub in simulator tests: records what dispensers publish (acks, heartbeats,
 * availability) and sends them updates.
 *
 * @module
 */
import { MqttAdapter } from "../../lib/mqtt_adapter.ts";
import {
  DeviceAck,
  DeviceAvailability,
  DeviceHeartbeat,
  type DeviceUpdate,
} from "../../protocol/device.ts";
import { parseMachineTopic, topics } from "../../protocol/topics.ts";

import { silentLogger as quiet } from "../../lib/log.ts";
export { quiet };

export interface Seen<T> {
  id: number;
  msg: T;
  retained: boolean;
}

const decoder = new TextDecoder();
let seq = 0;

export class HubProbe {
  readonly mqtt: MqttAdapter;
  readonly acks: Seen<DeviceAck>[] = [];
  readonly heartbeats: Seen<DeviceHeartbeat>[] = [];
  readonly availability: Seen<DeviceAvailability>[] = [];

  private constructor(url: string) {
    this.mqtt = new MqttAdapter({ url, clientId: `probe-${crypto.randomUUID()}`, logger: quiet });
  }

  /** Connects and subscribes to every dispenser's response, heartbeat and availability. */
  static async start(url: string): Promise<HubProbe> {
    const p = new HubProbe(url);
    await p.mqtt.connect();
    const record =
      <T>(list: Seen<T>[], parse: (v: unknown) => T) =>
      (topic: string, payload: Uint8Array, retained: boolean) => {
        const t = parseMachineTopic(topic);
        if (!t) throw new Error(`unexpected topic ${topic}`);
        list.push({ id: t.machine_id, msg: parse(JSON.parse(decoder.decode(payload))), retained });
      };
    await p.mqtt.subscribe(topics.allMachines("response"), record(p.acks, DeviceAck.parse));
    await p.mqtt.subscribe(
      topics.allMachines("heartbeat"),
      record(p.heartbeats, DeviceHeartbeat.parse),
    );
    await p.mqtt.subscribe(
      topics.allMachines("availability"),
      record(p.availability, DeviceAvailability.parse),
    );
    return p;
  }

  /** Publishes an update to dispenser `id`; returns its correlation id. */
  async send(id: number, u: Partial<DeviceUpdate> & { version: number }): Promise<string> {
    const correlation_id = u.correlation_id ?? `c-${++seq}`;
    const full: DeviceUpdate = {
      origin: "machine_handler",
      sent_at: Date.now(),
      status: "available",
      dispense: false,
      session_id: null,
      deadline: null,
      remaining_s: null,
      ...u,
      correlation_id,
    };
    await this.mqtt.publish(topics.update(id), JSON.stringify(full), { qos: 1 });
    return correlation_id;
  }

  ackFor(correlationId: string): DeviceAck | undefined {
    return this.acks.find((a) => a.msg.correlation_id === correlationId)?.msg;
  }

  lastAvailability(id: number): Seen<DeviceAvailability> | undefined {
    return this.availability.findLast((a) => a.id === id);
  }

  heartbeatsOf(id: number): DeviceHeartbeat[] {
    return this.heartbeats.filter((h) => h.id === id).map((h) => h.msg);
  }

  close(): Promise<void> {
    return this.mqtt.close();
  }
}

/** The retained availability of `id` as a fresh subscriber sees it. */
export async function retainedAvailability(
  url: string,
  id: number,
): Promise<DeviceAvailability | null> {
  const m = new MqttAdapter({ url, clientId: `probe-r-${crypto.randomUUID()}`, logger: quiet });
  await m.connect();
  try {
    const got = Promise.withResolvers<DeviceAvailability | null>();
    const t = setTimeout(() => got.resolve(null), 1_000);
    await m.subscribe(topics.availability(id), (_t, p, retained) => {
      if (retained) got.resolve(DeviceAvailability.parse(JSON.parse(decoder.decode(p))));
    });
    const v = await got.promise;
    clearTimeout(t);
    return v;
  } finally {
    await m.close();
  }
}
