/**
 * Fixtures for the UI tests: a status snapshot of a small range, and a scripted EventSource.
 *
 * @module
 */
import type { BayView, CheckoutView, StatusView } from "../../web/views.ts";
import type { EventSourceLike } from "../../web/ui/live_store.ts";

export const T0 = 1_750_000_000_000;

export function bay(id: number, patch: Partial<BayView> = {}): BayView {
  return {
    machine_id: id,
    label: `Bay ${id}`,
    floor: id <= 4 ? 1 : 2,
    row: id <= 4 ? "A" : "B",
    status: "available",
    online: true,
    ball_level: "full",
    last_seen: T0 - 2_000,
    remaining_s: null,
    session: null,
    hold: null,
    reason: null,
    fault: null,
    updated_at: T0 - 10_000,
    ...patch,
  };
}

/** Six bays on two floors: 1-2 free, 3 active (29:30 left), 4 in maintenance, 5 reserved, 6 offline. */
export function snapshot(patch: Partial<StatusView> = {}): StatusView {
  return {
    generated_at: T0,
    broker_connected: true,
    kiosk_title: "Fairway Range",
    currency: "EUR",
    hold_s: 120,
    prices: [
      { id: "30min", label: "30 minutes", duration_s: 1800, amount_cents: 800 },
      { id: "60min", label: "60 minutes", duration_s: 3600, amount_cents: 1400 },
    ],
    payment_providers: [
      { id: "counter", label: "Pay at the counter" },
      { id: "external", label: "Card or phone" },
    ],
    layout: {
      floors: [
        { floor: 1, rows: [{ row: "A", machine_ids: [1, 2, 3, 4] }] },
        { floor: 2, rows: [{ row: "B", machine_ids: [5, 6] }] },
      ],
    },
    machines: [
      bay(1),
      bay(2),
      bay(3, {
        status: "active",
        session: {
          session_id: "s3",
          origin: "kiosk",
          started_at: T0 - 30_000,
          paid_s: 1800,
          paid_until: T0 + 1_770_000,
          remaining_ms: null,
          amount_cents: 800,
          group_id: null,
        },
        remaining_s: 1770,
      }),
      bay(4, { status: "maintenance", reason: "jammed feeder" }),
      bay(5, {
        status: "reserved",
        hold: { hold_id: "h5", origin: "kiosk", expires_at: T0 + 60_000 },
      }),
      bay(6, { status: "offline", online: false, ball_level: "unknown" }),
    ],
    ...patch,
  };
}

/** An EventSource the test drives: `emit(name, data)`, `fail(closed)`. */
/** A pending counter checkout for bay 1, created at T0. */
export function checkout(patch: Partial<CheckoutView> = {}): CheckoutView {
  return {
    id: "chk_1",
    provider: "counter",
    reference: "K7QF-2M9X",
    machine_id: 1,
    price: { id: "30min", label: "30 minutes", duration_s: 1800, amount_cents: 800 },
    currency: "EUR",
    state: "pending",
    message: null,
    created_at: T0,
    expires_at: T0 + 120_000,
    session_id: "ses_1",
    checkout_url: null,
    instructions: "Pay at the counter.",
    ...patch,
  };
}

export class FakeEventSource implements EventSourceLike {
  static instances: FakeEventSource[] = [];
  readyState = 0;
  onopen: ((ev: Event) => unknown) | null = null;
  onerror: ((ev: Event) => unknown) | null = null;
  closed = false;
  readonly url: string;
  readonly #listeners = new Map<string, Array<(ev: MessageEvent) => void>>();

  constructor(url: string) {
    this.url = url;
    FakeEventSource.instances.push(this);
  }

  addEventListener(type: string, listener: (ev: MessageEvent) => void): void {
    const list = this.#listeners.get(type) ?? [];
    list.push(listener);
    this.#listeners.set(type, list);
  }

  close(): void {
    this.closed = true;
    this.readyState = 2;
  }

  open(): void {
    this.readyState = 1;
    this.onopen?.(new Event("open"));
  }

  emit(type: string, data: unknown): void {
    const ev = new MessageEvent(type, { data: JSON.stringify(data) });
    for (const l of this.#listeners.get(type) ?? []) l(ev);
  }

  /** A broken stream: `closed` as the browser gives up (HTTP error), else it retries itself. */
  fail(closed: boolean): void {
    this.readyState = closed ? 2 : 0;
    this.onerror?.(new Event("error"));
  }
}
