/**
 * The pages' live state: one `EventSource` on `/api/events`, kept in signals. The first event
 * of every stream is a snapshot that replaces everything (so a page that reconnects after a
 * network drop is exactly current); later events change one bay, add an alert, and so on. When
 * the stream breaks, the store reconnects with a growing back-off and says so (`connection`).
 *
 * @module
 */
import { batch, computed, signal } from "@preact/signals";
import type { Alert } from "../../protocol/hub.ts";
import type { MachineState } from "../../protocol/machine.ts";
import type { TimerWarning } from "../../protocol/timer.ts";
import type { BayView, CheckoutView, StatusView } from "../views.ts";
import { ServerClock } from "./server_clock.ts";

/** The part of `EventSource` the store uses (injectable for tests). */
export interface EventSourceLike {
  readonly readyState: number;
  onopen: ((ev: Event) => unknown) | null;
  onerror: ((ev: Event) => unknown) | null;
  addEventListener(type: string, listener: (ev: MessageEvent) => void): void;
  close(): void;
}

export type EventSourceFactory = (url: string) => EventSourceLike;

export type ConnectionState = "connecting" | "live" | "reconnecting";

export interface LiveStoreOptions {
  url?: string;
  clock?: ServerClock;
  eventSource?: EventSourceFactory;
  /** Back-off after a broken stream: first delay and cap, milliseconds. */
  retryMs?: number;
  maxRetryMs?: number;
  /** Alerts kept. */
  maxAlerts?: number;
  /** A stream that sends nothing (not even a heartbeat) for this long is reopened. */
  staleMs?: number;
}

/** Event names of `/api/events` (see docs/http_api.md). */
export const EVENT_NAMES = [
  "snapshot",
  "machine",
  "alert",
  "warning",
  "checkout",
  "settings",
  "connection",
  "heartbeat",
] as const;

const CLOSED = 2;

export class LiveStore {
  readonly clock: ServerClock;
  /** The last snapshot's page-level data (title, prices, layout, ...); null until the first. */
  readonly status = signal<StatusView | null>(null);
  /** Every bay by id, kept current by the stream. */
  readonly bays = signal<ReadonlyMap<number, BayView>>(new Map());
  readonly alerts = signal<readonly Alert[]>([]);
  /** Timer warnings by machine id (the last one of each bay's current session). */
  readonly warnings = signal<ReadonlyMap<number, TimerWarning>>(new Map());
  readonly connection = signal<ConnectionState>("connecting");
  /** Whether the hub's web node is connected to its broker (bays may be stale when not). */
  readonly brokerConnected = signal(true);
  /** Count of snapshots received (a reconnect increments it). */
  readonly snapshots = signal(0);
  /** Bays in layout order (floors, rows), then any the layout does not list. */
  readonly orderedBays = computed(() => orderBays(this.status.value, this.bays.value));

  readonly #url: string;
  readonly #factory: EventSourceFactory;
  readonly #retryMs: number;
  readonly #maxRetryMs: number;
  readonly #maxAlerts: number;
  readonly #staleMs: number;
  readonly #checkoutListeners = new Set<(c: CheckoutView) => void>();
  readonly #settingsListeners = new Set<() => void>();
  #source: EventSourceLike | null = null;
  #retryTimer: ReturnType<typeof setTimeout> | null = null;
  #staleTimer: ReturnType<typeof setTimeout> | null = null;
  #failures = 0;
  #stopped = true;

  constructor(options: LiveStoreOptions = {}) {
    this.#url = options.url ?? "/api/events";
    this.clock = options.clock ?? new ServerClock();
    this.#factory = options.eventSource ?? ((url) => new EventSource(url));
    this.#retryMs = options.retryMs ?? 500;
    this.#maxRetryMs = options.maxRetryMs ?? 8_000;
    this.#maxAlerts = options.maxAlerts ?? 100;
    this.#staleMs = options.staleMs ?? 45_000;
    if (!(this.#retryMs > 0) || this.#maxRetryMs < this.#retryMs) {
      throw new RangeError("retryMs must be positive and maxRetryMs at least retryMs");
    }
  }

  /** Opens the stream (and keeps it open) until {@linkcode LiveStore.stop}. */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.clock.start();
    this.#open();
  }

  stop(): void {
    this.#stopped = true;
    this.clock.stop();
    this.#closeSource();
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
  }

  /** Closes the stream and opens a new one now (its snapshot replaces the state). */
  reconnect(): void {
    if (this.#stopped) return;
    this.#closeSource();
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.connection.value = "reconnecting";
    this.#open();
  }

  /** Whether the timer warned that the bay's current session ends soon. */
  endingSoon(bay: BayView): boolean {
    const w = this.warnings.value.get(bay.machine_id);
    return w !== undefined && w.session_id === bay.session?.session_id;
  }

  /** The bay with `id`, or undefined. */
  bay(id: number): BayView | undefined {
    return this.bays.value.get(id);
  }

  /** Calls `fn` with every checkout event; returns the unsubscribe function. */
  onCheckout(fn: (c: CheckoutView) => void): () => void {
    this.#checkoutListeners.add(fn);
    return () => this.#checkoutListeners.delete(fn);
  }

  /** Calls `fn` when staff changed the settings; returns the unsubscribe function. */
  onSettings(fn: () => void): () => void {
    this.#settingsListeners.add(fn);
    return () => this.#settingsListeners.delete(fn);
  }

  /** Replaces the whole state with a snapshot (also used for `GET /api/status` answers). */
  applySnapshot(snap: StatusView): void {
    batch(() => {
      this.clock.sync(snap.generated_at);
      this.status.value = snap;
      this.bays.value = new Map(snap.machines.map((m) => [m.machine_id, m]));
      this.brokerConnected.value = snap.broker_connected;
      // Warnings of sessions that are still running are kept; the rest are over.
      const sessions = new Map(snap.machines.map((m) => [m.machine_id, m.session?.session_id]));
      const kept = new Map<number, TimerWarning>();
      for (const [id, w] of this.warnings.value) {
        if (sessions.get(id) === w.session_id) kept.set(id, w);
      }
      this.warnings.value = kept;
      this.snapshots.value++;
    });
  }

  /** Applies one bay change (a BayView, or a MachineState merged into the known bay). */
  applyMachine(update: Partial<BayView> & { machine_id: number } | MachineState): void {
    const prev = this.bays.value.get(update.machine_id);
    const before = prev?.updated_at;
    const after = update.updated_at;
    if (typeof before === "number" && typeof after === "number" && before > after) return;
    const next: BayView = {
      machine_id: update.machine_id,
      label: update.label ?? prev?.label ?? `Bay ${update.machine_id}`,
      floor: ("floor" in update ? update.floor : undefined) ?? prev?.floor ?? null,
      row: ("row" in update ? update.row : undefined) ?? prev?.row ?? null,
      status: update.status ?? prev?.status ?? "unknown",
      online: update.online ?? prev?.online ?? false,
      ball_level: update.ball_level ?? prev?.ball_level ?? "unknown",
      last_seen: pick(update, "last_seen", prev?.last_seen ?? null),
      remaining_s: pick(update, "remaining_s", prev?.remaining_s ?? null),
      session: pick(update, "session", prev?.session ?? null),
      hold: pick(update, "hold", prev?.hold ?? null),
      reason: pick(update, "reason", prev?.reason ?? null),
      fault: pick(update, "fault", prev?.fault ?? null),
      updated_at: pick(update, "updated_at", prev?.updated_at ?? null),
    };
    const bays = new Map(this.bays.value);
    bays.set(next.machine_id, next);
    batch(() => {
      this.bays.value = bays;
      const w = this.warnings.value.get(next.machine_id);
      if (w && w.session_id !== next.session?.session_id) {
        const ws = new Map(this.warnings.value);
        ws.delete(next.machine_id);
        this.warnings.value = ws;
      }
    });
  }

  /** Staff changed the settings: the new title, hold time and price list (any subset). */
  applySettings(d: unknown): void {
    const cur = this.status.peek();
    if (!cur || !isObject(d)) return;
    const next: StatusView = { ...cur };
    if (typeof d.kiosk_title === "string") next.kiosk_title = d.kiosk_title;
    if (typeof d.hold_s === "number") next.hold_s = d.hold_s;
    if (Array.isArray(d.prices)) next.prices = d.prices as StatusView["prices"];
    this.status.value = next;
  }

  /** Adds an alert (newest last). */
  applyAlert(alert: Alert): void {
    const list = [...this.alerts.value, alert];
    if (list.length > this.#maxAlerts) list.splice(0, list.length - this.#maxAlerts);
    this.alerts.value = list;
  }

  /** Replaces the alert list (e.g. with `GET /api/admin/alerts`). */
  setAlerts(alerts: readonly Alert[]): void {
    this.alerts.value = alerts.slice(-this.#maxAlerts);
  }

  #open(): void {
    if (this.#stopped) return;
    let source: EventSourceLike;
    try {
      source = this.#factory(this.#url);
    } catch {
      this.#scheduleRetry();
      return;
    }
    this.#source = source;
    source.onopen = () => {
      this.#touch();
    };
    source.onerror = () => {
      if (this.#source !== source) return;
      // The browser retries by itself unless the stream is CLOSED; either way the page is not
      // live until the next snapshot arrives.
      if (this.connection.peek() === "live") this.connection.value = "reconnecting";
      if (source.readyState === CLOSED) {
        this.#closeSource();
        this.#scheduleRetry();
      }
    };
    const on = (name: string, fn: (data: unknown) => void) => {
      source.addEventListener(name, (ev: MessageEvent) => {
        if (this.#source !== source) return;
        this.#touch();
        let data: unknown;
        try {
          data = typeof ev.data === "string" && ev.data !== "" ? JSON.parse(ev.data) : null;
        } catch {
          return;
        }
        fn(data);
      });
    };
    on("snapshot", (d) => {
      if (!isObject(d) || !Array.isArray(d.machines)) return;
      this.applySnapshot(d as unknown as StatusView);
      this.#failures = 0;
      this.connection.value = "live";
    });
    on("machine", (d) => {
      const m = isObject(d) && isObject(d.machine) ? d.machine : d;
      if (isObject(m) && typeof m.machine_id === "number") {
        this.applyMachine(m as unknown as MachineState);
      }
      this.#syncFrom(d);
    });
    on("alert", (d) => {
      const a = isObject(d) && isObject(d.alert) ? d.alert : d;
      if (isObject(a) && typeof a.message === "string") this.applyAlert(a as unknown as Alert);
    });
    on("warning", (d) => {
      const w = isObject(d) && isObject(d.warning) ? d.warning : d;
      if (!isObject(w) || typeof w.machine_id !== "number") return;
      const ws = new Map(this.warnings.value);
      ws.set(w.machine_id, w as unknown as TimerWarning);
      this.warnings.value = ws;
      if (typeof w.sent_at === "number") this.clock.sync(w.sent_at);
    });
    on("checkout", (d) => {
      const c = isObject(d) && isObject(d.checkout) ? d.checkout : d;
      if (!isObject(c) || typeof c.id !== "string") return;
      for (const fn of [...this.#checkoutListeners]) fn(c as unknown as CheckoutView);
    });
    on("settings", (d) => {
      this.applySettings(d);
      this.#syncFrom(d);
      for (const fn of [...this.#settingsListeners]) fn();
    });
    on("connection", (d) => {
      if (isObject(d) && typeof d.broker_connected === "boolean") {
        this.brokerConnected.value = d.broker_connected;
      }
      this.#syncFrom(d);
    });
    on("heartbeat", (d) => this.#syncFrom(d));
  }

  /** Takes the server time from an event that carries one. */
  #syncFrom(d: unknown): void {
    if (!isObject(d)) return;
    for (const k of ["server_time", "now", "at"] as const) {
      const v = d[k];
      if (typeof v === "number") {
        this.clock.sync(v);
        return;
      }
    }
  }

  /** Any event proves the stream alive; a silent one is reopened after `staleMs`. */
  #touch(): void {
    if (this.#staleTimer !== null) clearTimeout(this.#staleTimer);
    this.#staleTimer = setTimeout(() => {
      this.#staleTimer = null;
      this.reconnect();
    }, this.#staleMs);
  }

  #closeSource(): void {
    if (this.#staleTimer !== null) clearTimeout(this.#staleTimer);
    this.#staleTimer = null;
    const s = this.#source;
    this.#source = null;
    if (s) {
      s.onopen = null;
      s.onerror = null;
      s.close();
    }
  }

  #scheduleRetry(): void {
    if (this.#stopped || this.#retryTimer !== null) return;
    this.connection.value = "reconnecting";
    const delay = Math.min(this.#maxRetryMs, this.#retryMs * 2 ** this.#failures);
    this.#failures++;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      this.#open();
    }, delay);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function pick<K extends keyof BayView>(
  update: object,
  key: K,
  fallback: BayView[K],
): BayView[K] {
  return key in update ? (update as Record<string, unknown>)[key] as BayView[K] : fallback;
}

/** Bays in the snapshot's layout order, then the rest by id. */
export function orderBays(
  status: StatusView | null,
  bays: ReadonlyMap<number, BayView>,
): BayView[] {
  const out: BayView[] = [];
  const seen = new Set<number>();
  for (const f of status?.layout.floors ?? []) {
    for (const r of f.rows) {
      for (const id of r.machine_ids) {
        const b = bays.get(id);
        if (b && !seen.has(id)) {
          out.push(b);
          seen.add(id);
        }
      }
    }
  }
  const rest = [...bays.values()].filter((b) => !seen.has(b.machine_id));
  rest.sort((a, b) => a.machine_id - b.machine_id);
  return out.concat(rest);
}
