/**
 * Settings staff change in the admin portal: the price list (durations and amounts), the hold
 * time and the kiosk title. The config file gives the initial values; once saved, the values
 * in web.db win (they survive restarts and config edits until changed again in the portal).
 *
 * @module
 */
import type { PriceConfig, WebConfig } from "../lib/config.ts";
import { type Clock, systemClock } from "../lib/clock.ts";
import type { EventBus } from "./event_bus.ts";
import type { WebStore } from "./store.ts";

export interface WebSettings {
  kiosk_title: string;
  hold_s: number;
  prices: PriceConfig[];
}

const KEY = "web.settings";

export class Settings {
  readonly #store: WebStore;
  readonly #defaults: WebSettings;
  readonly #clock: Clock;
  readonly #bus: EventBus | undefined;
  #current: WebSettings;

  constructor(store: WebStore, config: WebConfig, options: { clock?: Clock; bus?: EventBus } = {}) {
    this.#store = store;
    this.#clock = options.clock ?? systemClock;
    this.#bus = options.bus;
    this.#defaults = {
      kiosk_title: config.kiosk_title,
      hold_s: config.hold_s,
      prices: config.prices,
    };
    const saved = store.getSetting(KEY) as Partial<WebSettings> | undefined;
    this.#current = { ...this.#defaults, ...saved };
  }

  get(): WebSettings {
    return structuredClone(this.#current);
  }

  /** The price with `id`, or undefined. */
  price(id: string): PriceConfig | undefined {
    return this.#current.prices.find((p) => p.id === id);
  }

  /** Applies an already validated partial update, persists it and tells SSE clients. */
  update(patch: Partial<WebSettings>): WebSettings {
    const next: WebSettings = { ...this.#current };
    if (patch.kiosk_title !== undefined) next.kiosk_title = patch.kiosk_title;
    if (patch.hold_s !== undefined) next.hold_s = patch.hold_s;
    if (patch.prices !== undefined) next.prices = structuredClone(patch.prices);
    this.#store.putSetting(KEY, next, this.#clock.now());
    this.#current = next;
    this.#bus?.publish({ type: "settings" });
    return this.get();
  }

  /** Forgets saved values: back to the config file's. */
  reset(): WebSettings {
    return this.update(this.#defaults);
  }
}
