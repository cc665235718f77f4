/**
 * The web node's link to the hub: one MQTT session, one RPC client per origin (`kiosk`, `admin`,
 * `webhook`), and a live cache of every bay built from the retained `machines/+/state` topic
 * (published by the machine handler after every change) and a `machines/status/request` on every
 * (re)connect. It also follows `hub/alerts` and `timer/warning`. It never changes a status: it
 * only sends commands to the machine handler and reports the outcome.
 *
 * @module
 */
import type { HubRpc } from "../protocol/api.ts";
import type { ResponseOf } from "../protocol/common.ts";
import type { CommandResult } from "../protocol/command.ts";
import { Alert } from "../protocol/hub.ts";
import { MachineState } from "../protocol/machine.ts";
import { TimerWarning } from "../protocol/timer.ts";
import { parseMachineTopic, topics } from "../protocol/topics.ts";
import { type Clock, systemClock } from "../lib/clock.ts";
import { createLogger, type Logger } from "../lib/log.ts";
import { MqttAdapter } from "../lib/mqtt_adapter.ts";
import { type RequestBody, RpcClient } from "../lib/rpc_client.ts";
import type { EventBus } from "./event_bus.ts";

/** The origins the web node sends commands as. */
export const webOrigins = ["kiosk", "admin", "webhook"] as const;
export type WebOrigin = typeof webOrigins[number];

export type CommandBody = RequestBody<HubRpc, "machines/commands">;

export interface HubLinkOptions {
  mqttUrl: string;
  clientId: string;
  bus: EventBus;
  clock?: Clock;
  logger?: Logger;
  commandTimeoutMs?: number;
  /** Every matched RPC round trip: topic, origin, milliseconds. */
  onLatency?: (topic: string, origin: WebOrigin, ms: number) => void;
  /** Alerts kept for late joiners (admin page load). */
  alertHistory?: number;
}

const decoder = new TextDecoder();

export class HubLink {
  readonly mqtt: MqttAdapter;
  readonly #clients: Record<WebOrigin, RpcClient>;
  readonly #bus: EventBus;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #timeoutMs: number;
  readonly #machines = new Map<number, MachineState>();
  readonly #alerts: Alert[] = [];
  readonly #alertHistory: number;
  #unsubs: Array<() => void> = [];
  #started = false;
  #stopped = false;
  /** Retained or live state messages that failed validation (a handler bug; logged). */
  invalidStates = 0;

  constructor(options: HubLinkOptions) {
    this.#bus = options.bus;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger ?? createLogger("web-link");
    this.#timeoutMs = options.commandTimeoutMs ?? 5_000;
    this.#alertHistory = options.alertHistory ?? 100;
    this.mqtt = new MqttAdapter({
      url: options.mqttUrl,
      clientId: options.clientId,
      logger: this.#log.child("mqtt"),
    });
    const clients = {} as Record<WebOrigin, RpcClient>;
    for (const origin of webOrigins) {
      clients[origin] = new RpcClient(this.mqtt, origin, {
        clock: this.#clock,
        defaultTimeoutMs: this.#timeoutMs,
        logger: this.#log.child(`rpc:${origin}`),
        onLatency: (topic, ms) => options.onLatency?.(topic, origin, ms),
      });
    }
    this.#clients = clients;
  }

  /** Connects, subscribes and asks the handler for every bay (without waiting for its answer). */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    await this.mqtt.connect();
    this.#unsubs.push(
      await this.mqtt.subscribe(topics.allMachines("state"), (t, p) => this.#onState(t, p)),
      await this.mqtt.subscribe(topics.hubAlerts, (_t, p) => this.#onAlert(p)),
      await this.mqtt.subscribe(topics.timerWarning, (_t, p) => this.#onWarning(p), 0),
    );
    for (const c of Object.values(this.#clients)) await c.start();
    this.#unsubs.push(
      this.mqtt.on("connect", () => {
        this.#bus.publish({ type: "connection", broker_connected: true });
        this.refresh();
      }),
      this.mqtt.on("offline", () => {
        this.#bus.publish({ type: "connection", broker_connected: false });
      }),
    );
    this.refresh();
  }

  /** Asks the handler for every bay; the answer updates the cache. Never throws. */
  refresh(): Promise<boolean> {
    if (this.#stopped) return Promise.resolve(false);
    return this.#clients.kiosk.request(topics.statusRequest, {}).then((res) => {
      if (res.status !== "ok") {
        this.#log.warn("status request refused", { error: res.error.message });
        return false;
      }
      for (const m of res.data.machines) this.#accept(m);
      return true;
    }, (err) => {
      if (!this.#stopped) {
        this.#log.warn("status request failed; relying on retained states", {
          error: (err as Error).message,
        });
      }
      return false;
    });
  }

  get connected(): boolean {
    return this.mqtt.connected;
  }

  /** Every bay the handler has reported, by id. */
  machines(): MachineState[] {
    return [...this.#machines.values()].sort((a, b) => a.machine_id - b.machine_id);
  }

  machine(id: number): MachineState | undefined {
    return this.#machines.get(id);
  }

  /** The most recent alerts, oldest first. */
  alerts(): Alert[] {
    return [...this.#alerts];
  }

  /** RPC client statistics per origin (for metrics). */
  rpcStats(): Record<WebOrigin, RpcClient["stats"]> {
    return {
      kiosk: { ...this.#clients.kiosk.stats },
      admin: { ...this.#clients.admin.stats },
      webhook: { ...this.#clients.webhook.stats },
    };
  }

  /**
   * Sends a command to the machine handler as `origin` and resolves to its reply (`ok` or its
   * refusal). Rejects with RpcTimeoutError when the handler does not answer in time, or with
   * RpcClosedError / MqttError when the link is down.
   */
  async command(
    origin: WebOrigin,
    body: CommandBody,
    options: { timeoutMs?: number } = {},
  ): Promise<ResponseOf<CommandResult>> {
    const res = await this.#clients[origin].request(topics.commands, body, {
      timeoutMs: options.timeoutMs ?? this.#timeoutMs,
    });
    if (res.status === "ok") this.#accept(res.data.machine);
    return res;
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const c of Object.values(this.#clients)) c.close();
    for (const u of this.#unsubs) u();
    this.#unsubs = [];
    await this.mqtt.close();
  }

  #accept(next: MachineState): void {
    const prev = this.#machines.get(next.machine_id);
    if (prev && prev.updated_at > next.updated_at) return;
    if (prev && JSON.stringify(prev) === JSON.stringify(next)) return;
    this.#machines.set(next.machine_id, next);
    this.#bus.publish({ type: "machine", machine: next });
  }

  #onState(topic: string, payload: Uint8Array): void {
    const parsed = parseMachineTopic(topic);
    if (!parsed || payload.length === 0) return;
    const json = parseJson(payload);
    const state = MachineState.safeParse(json);
    if (!state.success || state.data.machine_id !== parsed.machine_id) {
      this.invalidStates++;
      this.#log.warn("invalid machine state dropped", { topic });
      return;
    }
    this.#accept(state.data);
  }

  #onAlert(payload: Uint8Array): void {
    const alert = Alert.safeParse(parseJson(payload));
    if (!alert.success) {
      this.#log.warn("invalid alert dropped");
      return;
    }
    this.#alerts.push(alert.data);
    if (this.#alerts.length > this.#alertHistory) this.#alerts.shift();
    this.#bus.publish({ type: "alert", alert: alert.data });
  }

  #onWarning(payload: Uint8Array): void {
    const warning = TimerWarning.safeParse(parseJson(payload));
    if (!warning.success) {
      this.#log.warn("invalid timer warning dropped");
      return;
    }
    this.#bus.publish({ type: "warning", warning: warning.data });
  }

  /** Wall-clock now, as the link sees it. */
  now(): number {
    return this.#clock.now();
  }
}

function parseJson(payload: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(payload));
  } catch {
    return undefined;
  }
}
