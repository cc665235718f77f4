/**
 * Test harness for the machine handler: the handler in-thread on a real broker, simulated
 * dispensers (`sim/fleet.ts`), clients for kiosk and admin, a stand-in timer answering
 * `timer/set` and `timer/set_batch` (until the real timer actor is used), and recorders for
 * updates, states and alerts.
 *
 * @module
 */
import type { Clock } from "../../lib/clock.ts";
import { systemClock } from "../../lib/clock.ts";
import type { z } from "zod";
import type { HandlerConfig, MachineConfig } from "../../lib/config.ts";
import { MqttAdapter } from "../../lib/mqtt_adapter.ts";
import { RpcClient } from "../../lib/rpc_client.ts";
import type { CommandResult } from "../../protocol/command.ts";
import type { ResponseOf } from "../../protocol/common.ts";
import type { DeviceUpdate } from "../../protocol/device.ts";
import type { Alert } from "../../protocol/hub.ts";
import type { MachineState } from "../../protocol/machine.ts";
import { TimerSet, TimerSetBatch, type TimerState } from "../../protocol/timer.ts";
import { parseMachineTopic, topics } from "../../protocol/topics.ts";
import { MachineHandler } from "../../actors/machine_handler/machine_handler.ts";
import { type LedgerReader, openLedgerReader } from "../../actors/machine_handler/queries.ts";
import type { RequestBody } from "../../lib/rpc_client.ts";
import type { HubRpc } from "../../protocol/api.ts";
import { type Fleet, startFleet } from "../../sim/fleet.ts";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { waitFor } from "../helpers/wait.ts";

import { silentLogger as quiet } from "../../lib/log.ts";
export { quiet };

export type CommandBody = RequestBody<HubRpc, "machines/commands">;
export type CommandResponse = ResponseOf<CommandResult>;

export interface HarnessOptions {
  /** Number of bays (ids 1..n) or their configuration. Default 4. */
  machines?: number | Array<Partial<MachineConfig> & { id: number }>;
  handler?: Partial<z.input<typeof HandlerConfig>>;
  clock?: Clock;
  /** Ids of simulated dispensers to start (default: every bay); [] for none. */
  fleet?: number[];
  keepaliveS?: number;
  /** How the stand-in timer answers `timer/set` (default: it answers). */
  timer?: "answer" | "silent";
  dataDir?: string;
  broker?: TestBroker;
}

/**
 * A `timer/set` / `timer/set_batch` stand-in: keeps sessions, answers with their state, or stays
 * silent. `calls` lists every operation (a batch's with the batch's origin and their own
 * correlation ids), `batches` every `timer/set_batch` request.
 */
export class FakeTimer {
  readonly calls: TimerSet[] = [];
  readonly batches: TimerSetBatch[] = [];
  mode: "answer" | "silent";
  readonly #sessions = new Map<string, { remaining: number; deadline: number | null }>();
  readonly #mqtt: MqttAdapter;
  readonly #clock: Clock;
  readonly #seenExtends = new Set<string>();

  constructor(mqtt: MqttAdapter, clock: Clock, mode: "answer" | "silent") {
    this.#mqtt = mqtt;
    this.#clock = clock;
    this.mode = mode;
  }

  async start(): Promise<void> {
    await this.#mqtt.subscribe(topics.timerSet, (_t, payload) => {
      const req = TimerSet.parse(JSON.parse(new TextDecoder().decode(payload)));
      this.calls.push(req);
      if (this.mode === "silent") return;
      const state = this.#apply(req);
      this.#mqtt.publish(
        topics.timerResponses(req.origin),
        JSON.stringify({ correlation_id: req.correlation_id, status: "ok", data: state }),
      );
    });
    await this.#mqtt.subscribe(topics.timerSetBatch, (_t, payload) => {
      const req = TimerSetBatch.parse(JSON.parse(new TextDecoder().decode(payload)));
      this.batches.push(req);
      const ops = req.ops.map((item) => ({ ...item, origin: req.origin, sent_at: req.sent_at }));
      this.calls.push(...ops);
      if (this.mode === "silent") return;
      const results = ops.map((op) => ({
        correlation_id: op.correlation_id,
        status: "ok",
        data: this.#apply(op),
      }));
      this.#mqtt.publish(
        topics.timerResponses(req.origin),
        JSON.stringify({ correlation_id: req.correlation_id, status: "ok", data: { results } }),
      );
    });
  }

  #apply(req: TimerSet): TimerState {
    const now = this.#clock.now();
    let s = this.#sessions.get(req.session_id);
    let state: TimerState["state"] = "running";
    switch (req.op) {
      case "start":
        if (!s) {
          s = { remaining: req.duration_ms!, deadline: now + req.duration_ms! };
          this.#sessions.set(req.session_id, s);
        }
        break;
      case "extend":
        if (s && !this.#seenExtends.has(req.correlation_id)) {
          this.#seenExtends.add(req.correlation_id);
          if (s.deadline !== null) s.deadline += req.add_ms!;
          else s.remaining += req.add_ms!;
        }
        break;
      case "pause":
        if (s && s.deadline !== null) s = { remaining: s.deadline - now, deadline: null };
        break;
      case "resume":
        if (s && s.deadline === null) s = { remaining: s.remaining, deadline: now + s.remaining };
        break;
      case "cancel":
        this.#sessions.delete(req.session_id);
        state = "cancelled";
        break;
    }
    if (s && req.op !== "cancel") this.#sessions.set(req.session_id, s);
    if (s?.deadline === null) state = "paused";
    return {
      machine_id: req.machine_id,
      session_id: req.session_id,
      state,
      remaining_ms: s ? (s.deadline === null ? s.remaining : Math.max(0, s.deadline - now)) : 0,
      deadline: s?.deadline ?? null,
    };
  }

  ops(sessionId?: string): string[] {
    return this.calls.filter((c) => !sessionId || c.session_id === sessionId).map((c) => c.op);
  }
}

export interface Harness {
  broker: TestBroker;
  url: string;
  dataDir: string;
  clock: Clock;
  handler: MachineHandler;
  fleet: Fleet | null;
  timer: FakeTimer;
  kiosk: RpcClient;
  admin: RpcClient;
  /** A raw connection for publishing anything (malformed commands, fake acks). */
  raw: MqttAdapter;
  updates: Map<number, DeviceUpdate[]>;
  states: Map<number, MachineState>;
  alerts: Alert[];
  /** Sends a command and returns the whole response. */
  command(body: CommandBody, client?: RpcClient, timeoutMs?: number): Promise<CommandResponse>;
  /** Sends a command that must succeed; returns the bay's state. */
  ok(body: CommandBody, client?: RpcClient): Promise<MachineState>;
  /**
   * Stops the handler (graceful) and starts a new one on the same data directory; `between`
   * runs while it is down.
   */
  restartHandler(between?: () => void | Promise<void>): Promise<void>;
  /**
   * A reader on the ledger once no command's outcome is still being written (outcomes are
   * committed with the next batch, within 200 ms). Close it.
   */
  settledLedger(): Promise<LedgerReader>;
  stop(): Promise<void>;
}

export function machinesConfig(o: HarnessOptions["machines"]): MachineConfig[] {
  const list = typeof o === "number" || o === undefined
    ? Array.from({ length: o ?? 4 }, (_, i) => ({ id: i + 1 }))
    : o;
  return list.map((m) => ({ floor: 1, row: "A", label: `Bay ${m.id}`, ...m }));
}

export async function startHarness(o: HarnessOptions = {}): Promise<Harness> {
  const ownBroker = !o.broker;
  const broker = o.broker ?? await startBroker();
  const url = broker.url;
  const clock = o.clock ?? systemClock;
  const dataDir = o.dataDir ?? await Deno.makeTempDir({ prefix: "mh-test-" });
  const machines = machinesConfig(o.machines);
  const config = {
    machines,
    handler: {
      ack_timeout_ms: 300,
      ack_retries: 2,
      time_zone: "UTC",
      default_keepalive_s: o.keepaliveS ?? 10,
      ...o.handler,
    },
  };
  const tag = crypto.randomUUID().slice(0, 6);
  const connect = async (name: string) => {
    const m = new MqttAdapter({ url, clientId: `${name}-${tag}`, logger: quiet });
    await m.connect();
    return m;
  };
  const raw = await connect("raw");
  const updates = new Map<number, DeviceUpdate[]>();
  const states = new Map<number, MachineState>();
  const alerts: Alert[] = [];
  await raw.subscribe(topics.allMachines("update"), (t, p) => {
    const id = parseMachineTopic(t)!.machine_id;
    const list = updates.get(id) ?? [];
    list.push(JSON.parse(new TextDecoder().decode(p)));
    updates.set(id, list);
  });
  await raw.subscribe(topics.allMachines("state"), (t, p) => {
    if (p.length === 0) return;
    states.set(parseMachineTopic(t)!.machine_id, JSON.parse(new TextDecoder().decode(p)));
  });
  await raw.subscribe(topics.hubAlerts, (_t, p) => {
    alerts.push(JSON.parse(new TextDecoder().decode(p)));
  });
  const timerMqtt = await connect("timer");
  const timer = new FakeTimer(timerMqtt, clock, o.timer ?? "answer");
  await timer.start();

  const fleetIds = o.fleet ?? machines.map((m) => m.id);
  const fleet = fleetIds.length > 0
    ? await startFleet({
      mqttUrl: url,
      ids: fleetIds,
      keepaliveS: o.keepaliveS ?? 10,
      clock,
      logger: quiet,
      control: false,
    })
    : null;

  let handlerMqtt: MqttAdapter;
  let handlerRpc: RpcClient;
  let handler: MachineHandler;
  const startHandler = async () => {
    handlerMqtt = await connect("handler");
    handlerRpc = new RpcClient(handlerMqtt, "machine_handler", { clock, logger: quiet });
    await handlerRpc.start();
    handler = new MachineHandler({
      config,
      dataDir,
      mqtt: handlerMqtt,
      rpc: handlerRpc,
      clock,
      log: quiet,
    });
    await handler.start();
  };
  await startHandler();
  const stopHandler = async () => {
    await handler.stop();
    handlerRpc.close();
    await handlerMqtt.close();
  };

  const clientMqtt = await connect("clients");
  const kiosk = new RpcClient(clientMqtt, "kiosk", { logger: quiet, defaultTimeoutMs: 8_000 });
  const admin = new RpcClient(clientMqtt, "admin", { logger: quiet, defaultTimeoutMs: 8_000 });
  await kiosk.start();
  await admin.start();

  // Every simulated dispenser has been resent its state and acknowledged it.
  if (fleet) {
    await waitFor(
      () =>
        fleetIds.every((id) => {
          const m = handler.machine(id);
          return m?.online && m.acked_version === m.desired_version &&
            fleet.get(id).state.version === m.desired_version;
        }),
      { timeoutMs: 10_000, message: "dispensers online and synchronised" },
    );
  }

  const h: Harness = {
    broker,
    url,
    dataDir,
    clock,
    get handler() {
      return handler;
    },
    fleet,
    timer,
    kiosk,
    admin,
    raw,
    updates,
    states,
    alerts,
    command(body, client = kiosk, timeoutMs) {
      return client.request("machines/commands", body, { timeoutMs });
    },
    async ok(body, client = kiosk) {
      const r = await client.request("machines/commands", body);
      if (r.status !== "ok") {
        throw new Error(`${body.action} on ${body.machine_id} failed: ${JSON.stringify(r.error)}`);
      }
      return r.data.machine;
    },
    async settledLedger() {
      const reader = openLedgerReader(dataDir);
      await waitFor(() => reader.ledger({ outcome: "pending", limit: 1 }).length === 0, {
        message: "ledger outcomes written",
      });
      return reader;
    },
    async restartHandler(between) {
      await stopHandler();
      await between?.();
      await startHandler();
    },
    async stop() {
      kiosk.close();
      admin.close();
      await clientMqtt.close();
      await stopHandler();
      await fleet?.stop();
      await timerMqtt.close();
      await raw.close();
      if (ownBroker) await broker.stop();
      if (!o.dataDir) await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    },
  };
  return h;
}
