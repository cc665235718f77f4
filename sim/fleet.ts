/**
 * A fleet of simulated dispensers in one process, each with its own MQTT connection, connected
 * in batches so a thousand do not storm the broker at once. One extra connection listens on
 * `sim/+/control` so a separately running fleet can be steered over MQTT.
 *
 * @module
 */
import { type Clock, systemClock } from "../lib/clock.ts";
import { createLogger, type Logger } from "../lib/log.ts";
import { MqttAdapter } from "../lib/mqtt_adapter.ts";
import { MachineId } from "../protocol/common.ts";
import { parseSimControlTopic, SimControl, simControlFilter } from "./control.ts";
import { SimDispenser } from "./dispenser.ts";

export interface FleetOptions {
  mqttUrl: string;
  ids: number[];
  /** Heartbeat interval of every dispenser (default 10). */
  keepaliveS?: number;
  clock?: Clock;
  logger?: Logger;
  /** Percent of a full hopper used per minute of dispensing (default 2). */
  drainPerMinute?: number;
  /** Dispensers connecting at the same time (default 50). */
  batchSize?: number;
  /** Listen on `sim/{id}/control` (default true). */
  control?: boolean;
}

export interface Fleet {
  readonly dispensers: ReadonlyMap<number, SimDispenser>;
  get(id: number): SimDispenser;
  stop(): Promise<void>;
}

/** Some dispensers of a fleet could not connect; the ones that did were stopped again. */
export class FleetStartError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FleetStartError";
  }
}

const decoder = new TextDecoder();

/** Starts one simulated dispenser per id; resolves when all are connected and subscribed. */
export async function startFleet(o: FleetOptions): Promise<Fleet> {
  const batchSize = o.batchSize ?? 50;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  }
  if (!URL.canParse(o.mqttUrl)) {
    throw new RangeError(`mqttUrl is not a URL: ${JSON.stringify(o.mqttUrl)}`);
  }
  const seen = new Set<number>();
  for (const id of o.ids) {
    if (!MachineId.safeParse(id).success) {
      throw new RangeError(`Dispenser ids must be integers 1..99999, got ${id}`);
    }
    if (seen.has(id)) throw new RangeError(`Dispenser id ${id} is listed twice`);
    seen.add(id);
  }
  const log = o.logger ?? createLogger("sim");
  const clock = o.clock ?? systemClock;
  const dispensers = new Map<number, SimDispenser>();
  for (const id of o.ids) {
    dispensers.set(
      id,
      new SimDispenser({
        id,
        mqttUrl: o.mqttUrl,
        keepaliveS: o.keepaliveS,
        clock,
        logger: log.child(`dispenser-${id}`),
        drainPerMinute: o.drainPerMinute,
      }),
    );
  }

  const stopAll = async () => {
    const all = [...dispensers.values()];
    for (let i = 0; i < all.length; i += batchSize * 4) {
      await Promise.all(all.slice(i, i + batchSize * 4).map((d) => d.stop()));
    }
  };

  const started = performance.now();
  const all = [...dispensers.values()];
  for (let i = 0; i < all.length; i += batchSize) {
    const batch = all.slice(i, i + batchSize);
    const results = await Promise.allSettled(batch.map((d) => d.start()));
    const failed: Array<{ id: number; reason: Error }> = [];
    results.forEach((r, j) => {
      if (r.status === "rejected") failed.push({ id: batch[j].id, reason: r.reason as Error });
    });
    if (failed.length > 0) {
      await stopAll();
      const { id, reason } = failed[0];
      throw new FleetStartError(
        `${failed.length} simulated dispenser(s) could not connect to ${o.mqttUrl} ` +
          `(first: ${id}): ${reason.message}`,
        { cause: reason },
      );
    }
  }

  let control: MqttAdapter | null = null;
  if (o.control ?? true) {
    control = new MqttAdapter({
      url: o.mqttUrl,
      clientId: `sim-control-${crypto.randomUUID().slice(0, 8)}`,
      logger: log.child("control"),
    });
    try {
      await control.connect();
      await control.subscribe(simControlFilter, (topic, payload) => {
        const id = parseSimControlTopic(topic);
        const d = id === null ? undefined : dispensers.get(id);
        if (!d) return;
        steer(d, payload, log).catch((err) =>
          log.warn("control command failed", { id, error: err })
        );
      }, 1);
    } catch (err) {
      await control.destroy();
      await stopAll();
      throw new FleetStartError(`Fleet control connection to ${o.mqttUrl} failed`, { cause: err });
    }
  }
  log.info("simulated dispensers connected", {
    count: dispensers.size,
    ms: Math.round(performance.now() - started),
  });

  let stopped: Promise<void> | null = null;
  return {
    dispensers,
    get(id: number): SimDispenser {
      const d = dispensers.get(id);
      if (!d) throw new RangeError(`No simulated dispenser ${id} in this fleet`);
      return d;
    },
    stop(): Promise<void> {
      stopped ??= (async () => {
        await control?.close();
        await stopAll();
        log.info("simulated dispensers stopped", { count: dispensers.size });
      })();
      return stopped;
    },
  };
}

/** Applies one `sim/{id}/control` message to a dispenser. */
async function steer(d: SimDispenser, payload: Uint8Array, log: Logger): Promise<void> {
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(payload));
  } catch {
    log.warn("control message is not JSON", { id: d.id });
    return;
  }
  const parsed = SimControl.safeParse(json);
  if (!parsed.success) {
    log.warn("invalid control message", {
      id: d.id,
      problems: parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`),
    });
    return;
  }
  const c = parsed.data;
  if (!("command" in c)) return d.misbehave(c);
  log.info("control command", { id: d.id, command: c.command });
  switch (c.command) {
    case "offline":
      return await d.goOffline();
    case "online":
      return await d.comeBack();
    case "refill":
      return d.refill();
    case "reset":
      return d.reset();
  }
}
