/**
 * Composes the whole hub in one process: the broker (embedded unless an external URL is given),
 * the supervised actors, the web node and, for demos, simulated dispensers.
 *
 * @module
 */
import { hubActors } from "../actors/mod.ts";
import { Supervisor } from "../actors/runtime/supervisor.ts";
import { startWebNode, type WebNode } from "../web/node.ts";
import type { HubConfig } from "./config.ts";
import { type EmbeddedBroker, startEmbeddedBroker } from "./embedded_broker.ts";
import { createLogger, type Logger } from "./log.ts";
import { type Fleet, startFleet } from "../sim/fleet.ts";

export interface HubOptions {
  config: HubConfig;
  logger?: Logger;
  /** Also run simulated dispensers for the first N configured machines (demos, tests). */
  simulate?: number;
}

export interface RunningHub {
  mqttUrl: string;
  httpPort: number;
  supervisor: Supervisor;
  /** The simulated dispensers, when started with `simulate`. */
  fleet: Fleet | null;
  /** The web node (hub link, web.db, the HTTP app). */
  web: WebNode;
  stop(): Promise<void>;
}

/** Starts the hub; resolves once every actor is ready and HTTP is listening. */
export async function startHub({ config, logger, simulate = 0 }: HubOptions): Promise<RunningHub> {
  const log = logger ?? createLogger("hub");
  if (!Number.isInteger(simulate) || simulate < 0 || simulate > config.machines.length) {
    throw new RangeError(
      `simulate must be an integer 0..${config.machines.length} (the configured machines), ` +
        `got ${simulate}`,
    );
  }
  await Deno.mkdir(config.data_dir, { recursive: true });
  let broker: EmbeddedBroker | null = null;
  let mqttUrl = config.mqtt.url;
  if (!mqttUrl) {
    broker = await startEmbeddedBroker({
      host: config.mqtt.broker_host,
      port: config.mqtt.broker_port,
      logger: log.child("broker"),
    });
    mqttUrl = broker.url;
  }
  const supervisor = new Supervisor({
    mqttUrl,
    dataDir: config.data_dir,
    hubId: config.hub_id,
    logger: log.child("supervisor"),
  });
  for (const spec of hubActors(config)) supervisor.add(spec);
  await supervisor.start();
  let fleet: Fleet | null = null;
  if (simulate > 0) {
    try {
      fleet = await startFleet({
        mqttUrl,
        ids: config.machines.slice(0, simulate).map((m) => m.id),
        keepaliveS: config.handler.default_keepalive_s,
        logger: log.child("sim"),
      });
    } catch (err) {
      await supervisor.stop();
      await broker?.close();
      throw err;
    }
  }

  let web: WebNode;
  try {
    web = await startWebNode({
      config,
      mqttUrl,
      actors: () => supervisor.status(),
      logger: log.child("web"),
    });
  } catch (err) {
    await fleet?.stop();
    await supervisor.stop();
    await broker?.close();
    throw err;
  }
  const app = web.app;
  const http = Deno.serve({
    hostname: config.http.host,
    port: config.http.port,
    onListen: ({ hostname, port }) => log.info("HTTP listening", { hostname, port }),
  }, app.fetch);
  const httpPort = http.addr.port;

  let stopped = false;
  return {
    mqttUrl,
    httpPort,
    supervisor,
    fleet,
    web,
    async stop() {
      if (stopped) return;
      stopped = true;
      log.info("stopping");
      await fleet?.stop();
      web.closeStreams();
      await http.shutdown();
      await supervisor.stop();
      await web.stop();
      await broker?.close();
      log.info("stopped");
    },
  };
}
