/**
 * The Worker side of an actor: {@linkcode runActor} connects the actor's own MQTT session,
 * builds its RPC client and server, and drives its `start()`/`stop()` lifecycle on the
 * supervisor's messages.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { topics } from "../../protocol/topics.ts";
import { type Clock, systemClock } from "../../lib/clock.ts";
import { createLogger, type Logger } from "../../lib/log.ts";
import { MqttAdapter } from "../../lib/mqtt_adapter.ts";
import { RpcClient } from "../../lib/rpc_client.ts";
import { RpcServer } from "../../lib/rpc_server.ts";
import { type ActorHealth, type FromWorker, ToWorker } from "./messages.ts";

export interface ActorContext {
  name: string;
  hubId: string;
  /** The actor's own configuration, as given to the supervisor; validate it. */
  config: unknown;
  dataDir: string;
  mqttUrl: string;
  mqtt: MqttAdapter;
  rpc: RpcClient;
  server: RpcServer;
  clock: Clock;
  log: Logger;
}

export interface Actor {
  start(): Promise<void>;
  stop(): Promise<void>;
  health?(): ActorHealth;
}

export interface RunActorOptions {
  /** Publish a retained online birth and offline last will on `hub/availability`. */
  availability?: boolean;
}

/** Call once at the top level of a Worker module to run the actor `factory` builds. */
export function runActor(
  factory: (ctx: ActorContext) => Actor | Promise<Actor>,
  options: RunActorOptions = {},
): void {
  const post = (m: FromWorker) => self.postMessage(m);
  let actor: Actor | undefined;
  let ctx: ActorContext | undefined;
  let stopping = false;

  self.onmessage = async (ev: MessageEvent) => {
    const parsed = ToWorker.safeParse(ev.data);
    if (!parsed.success) return;
    const msg = parsed.data;
    switch (msg.type) {
      case "start": {
        const log = createLogger(msg.name);
        const clientId = `${msg.hub_id}-${msg.name}-${crypto.randomUUID().slice(0, 8)}`;
        const availability = (state: "online" | "offline") =>
          JSON.stringify({ state, node: msg.name, since: Date.now() });
        const mqtt = new MqttAdapter({
          url: msg.mqtt_url,
          clientId,
          logger: log.child("mqtt"),
          will: options.availability
            ? {
              topic: topics.hubAvailability,
              payload: availability("offline"),
              qos: 1,
              retain: true,
            }
            : undefined,
          birth: options.availability
            ? {
              topic: topics.hubAvailability,
              payload: availability("online"),
              qos: 1,
              retain: true,
            }
            : undefined,
        });
        await mqtt.connect();
        const rpc = new RpcClient(mqtt, msg.name, { logger: log.child("rpc") });
        await rpc.start();
        const server = new RpcServer(mqtt, { logger: log.child("rpc-server") });
        ctx = {
          name: msg.name,
          hubId: msg.hub_id,
          config: msg.config,
          dataDir: msg.data_dir,
          mqttUrl: msg.mqtt_url,
          mqtt,
          rpc,
          server,
          clock: systemClock,
          log,
        };
        actor = await factory(ctx);
        await actor.start();
        post({ type: "ready" });
        break;
      }
      case "ping": {
        const health: ActorHealth = actor?.health?.() ?? { ok: true };
        const detail = {
          ...health.detail,
          mqtt_connected: ctx?.mqtt.connected ?? false,
          mqtt_reconnects: ctx?.mqtt.stats.reconnects ?? 0,
        };
        post({
          type: "pong",
          seq: msg.seq,
          health: { ok: health.ok && (ctx?.mqtt.connected ?? false), detail },
        });
        break;
      }
      case "stop": {
        if (stopping) return;
        stopping = true;
        try {
          await ctx?.server.close();
          await actor?.stop();
          ctx?.rpc.close();
          await ctx?.mqtt.close();
        } finally {
          post({ type: "stopped" });
          self.close();
        }
        break;
      }
    }
  };
}
