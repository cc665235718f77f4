/**
 * The web node's in-process event fan-out: the hub link (bay states, alerts, warnings) and the
 * checkout service publish here; every SSE client subscribes.
 *
 * @module
 */
import type { Alert } from "../protocol/hub.ts";
import type { MachineState } from "../protocol/machine.ts";
import type { TimerWarning } from "../protocol/timer.ts";
import type { CheckoutView } from "./views.ts";

export type HubEvent =
  | { type: "machine"; machine: MachineState }
  | { type: "alert"; alert: Alert }
  | { type: "warning"; warning: TimerWarning }
  | { type: "checkout"; checkout: CheckoutView }
  | { type: "settings" }
  | { type: "connection"; broker_connected: boolean };

export type HubEventListener = (event: HubEvent) => void;

export class EventBus {
  readonly #listeners = new Set<HubEventListener>();
  #seq = 0;

  /** Subscribes; returns the function that unsubscribes. */
  subscribe(fn: HubEventListener): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Number of subscribers (SSE clients and internal listeners). */
  get size(): number {
    return this.#listeners.size;
  }

  /** Sequence number of the last event published. */
  get seq(): number {
    return this.#seq;
  }

  publish(event: HubEvent): void {
    this.#seq++;
    for (const fn of [...this.#listeners]) {
      try {
        fn(event);
      } catch {
        // a broken listener must not stop the others
      }
    }
  }
}
