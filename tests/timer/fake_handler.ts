/**
 * Plays the machine handler's side of the timer contract over a real broker: sends `timer/set`
 * as `machine_handler` and answers `timer/expired` with `ended` when the session is the bay's
 * current one (so a stale expiry is ignored, as the real handler does).
 *
 * @module
 */
import { MqttAdapter } from "../../lib/mqtt_adapter.ts";
import { RpcClient } from "../../lib/rpc_client.ts";
import { RpcServer } from "../../lib/rpc_server.ts";
import type { TimerExpired, TimerSet, TimerState, TimerWarning } from "../../protocol/timer.ts";
import { topics } from "../../protocol/topics.ts";
import { quiet } from "./harness.ts";

export interface Received {
  request: TimerExpired;
  /** `performance.now()` and `Date.now()` on arrival. */
  at: number;
  wall: number;
  ended: boolean;
}

export class FakeHandler {
  readonly mqtt: MqttAdapter;
  readonly client: RpcClient;
  #server: RpcServer | null = null;
  /** The current session of each bay. */
  readonly current = new Map<number, string>();
  readonly expired: Received[] = [];
  readonly warnings: TimerWarning[] = [];

  private constructor(mqtt: MqttAdapter, client: RpcClient) {
    this.mqtt = mqtt;
    this.client = client;
  }

  /** Connects; `answering` false leaves timer/expired unanswered until {@linkcode answer}. */
  static async connect(mqttUrl: string, answering = true): Promise<FakeHandler> {
    const mqtt = new MqttAdapter({
      url: mqttUrl,
      clientId: `fake-handler-${crypto.randomUUID().slice(0, 8)}`,
      logger: quiet,
    });
    await mqtt.connect();
    const client = new RpcClient(mqtt, "machine_handler", { logger: quiet });
    await client.start();
    const h = new FakeHandler(mqtt, client);
    await mqtt.subscribe(topics.timerWarning, (_t, payload) => {
      h.warnings.push(JSON.parse(new TextDecoder().decode(payload)));
    });
    if (answering) await h.answer();
    return h;
  }

  /** Starts answering timer/expired. */
  async answer(): Promise<void> {
    if (this.#server) return;
    this.#server = new RpcServer(this.mqtt, { logger: quiet });
    await this.#server.handle(topics.timerExpired, (req) => {
      const ended = this.current.get(req.machine_id) === req.session_id;
      if (ended) this.current.delete(req.machine_id);
      this.expired.push({ request: req, at: performance.now(), wall: Date.now(), ended });
      return Promise.resolve({ machine_id: req.machine_id, session_id: req.session_id, ended });
    });
  }

  /** Sends timer/set; for start, makes the session the bay's current one. */
  async set(
    body: Omit<TimerSet, "correlation_id" | "origin" | "sent_at">,
    correlationId?: string,
  ): Promise<TimerState> {
    if (body.op === "start") this.current.set(body.machine_id, body.session_id);
    return await this.client.call(topics.timerSet, body, { correlationId, timeoutMs: 10_000 });
  }

  async close(): Promise<void> {
    this.client.close();
    await this.#server?.close();
    await this.mqtt.close();
  }
}
