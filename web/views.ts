/**
 * The JSON shapes the HTTP API and the event stream send to pages: a bay as the kiosk and admin
 * grids show it, the configured layout, the status snapshot and a checkout. The UI imports these
 * types; docs/http_api.md shows examples.
 *
 * @module
 */
import type { MachineConfig, PriceConfig } from "../lib/config.ts";
import { machineLabel } from "../lib/config.ts";
import type { Alert } from "../protocol/hub.ts";
import type { BallLevel, Hold, MachineState, MachineStatus, Session } from "../protocol/machine.ts";
import type { CheckoutRecord, CheckoutState } from "./store.ts";

/** One bay for the grids. `status` is `unknown` until the machine handler has reported it. */
export interface BayView {
  machine_id: number;
  label: string;
  floor: number | null;
  row: string | null;
  status: MachineStatus | "unknown";
  online: boolean;
  ball_level: BallLevel;
  last_seen: number | null;
  /** Seconds of paid time left (running or paused), else null. */
  remaining_s: number | null;
  session: Session | null;
  hold: Hold | null;
  reason: string | null;
  fault: string | null;
  updated_at: number | null;
}

export interface LayoutView {
  floors: Array<{ floor: number; rows: Array<{ row: string; machine_ids: number[] }> }>;
}

export interface PaymentProviderView {
  id: string;
  label: string;
}

/** `GET /api/status` and the first event of every `GET /api/events` stream. */
export interface StatusView {
  generated_at: number;
  broker_connected: boolean;
  kiosk_title: string;
  currency: string;
  hold_s: number;
  prices: PriceConfig[];
  payment_providers: PaymentProviderView[];
  layout: LayoutView;
  machines: BayView[];
}

/** A checkout as the kiosk sees it. */
export interface CheckoutView {
  id: string;
  provider: string;
  reference: string;
  machine_id: number;
  price: { id: string; label: string; duration_s: number; amount_cents: number };
  currency: string;
  state: CheckoutState;
  message: string | null;
  created_at: number;
  expires_at: number;
  session_id: string;
  /** External provider: where the customer pays (shown as a QR code); else null. */
  checkout_url: string | null;
  instructions: string;
}

/** A checkout as staff see it (adds who confirmed the payment and the resolution note). */
export interface AdminCheckoutView extends CheckoutView {
  paid_at: number | null;
  paid_by: string | null;
  resolved_note: string | null;
  updated_at: number;
}

/** Remaining whole seconds of a session at `now` (rounded up), or null without a session. */
export function remainingSeconds(session: Session | null, now: number): number | null {
  if (!session) return null;
  if (session.paid_until !== null) return Math.max(0, Math.ceil((session.paid_until - now) / 1000));
  if (session.remaining_ms !== null) return Math.ceil(session.remaining_ms / 1000);
  return null;
}

/** Builds the view of one bay from its state (if reported) and its configuration (if any). */
export function bayView(
  machineId: number,
  state: MachineState | undefined,
  config: MachineConfig | undefined,
  now: number,
): BayView {
  return {
    machine_id: machineId,
    label: state?.label ?? (config ? machineLabel(config) : `Bay ${machineId}`),
    floor: config?.floor ?? null,
    row: config?.row ?? null,
    status: state?.status ?? "unknown",
    online: state?.online ?? false,
    ball_level: state?.ball_level ?? "unknown",
    last_seen: state?.last_seen ?? null,
    remaining_s: remainingSeconds(state?.session ?? null, now),
    session: state?.session ?? null,
    hold: state?.hold ?? null,
    reason: state?.reason ?? null,
    fault: state?.fault ?? null,
    updated_at: state?.updated_at ?? null,
  };
}

/** Every configured bay, then any bay the handler reports that the config does not list. */
export function bayViews(
  configured: MachineConfig[],
  states: MachineState[],
  now: number,
): BayView[] {
  const byId = new Map(states.map((s) => [s.machine_id, s]));
  const out = configured.map((m) => bayView(m.id, byId.get(m.id), m, now));
  const known = new Set(configured.map((m) => m.id));
  for (const s of states) {
    if (!known.has(s.machine_id)) out.push(bayView(s.machine_id, s, undefined, now));
  }
  return out;
}

/** Floors ascending, rows in configured order, bays in configured order within a row. */
export function layoutOf(machines: MachineConfig[]): LayoutView {
  const floors = new Map<number, Map<string, number[]>>();
  for (const m of machines) {
    let rows = floors.get(m.floor);
    if (!rows) floors.set(m.floor, rows = new Map());
    let ids = rows.get(m.row);
    if (!ids) rows.set(m.row, ids = []);
    ids.push(m.id);
  }
  return {
    floors: [...floors.entries()].sort((a, b) => a[0] - b[0]).map(([floor, rows]) => ({
      floor,
      rows: [...rows.entries()].map(([row, machine_ids]) => ({ row, machine_ids })),
    })),
  };
}

/** The public view of a checkout record. */
export function checkoutView(
  rec: CheckoutRecord,
  extra: { checkout_url: string | null; instructions: string },
): CheckoutView {
  return {
    id: rec.id,
    provider: rec.provider,
    reference: rec.reference,
    machine_id: rec.machine_id,
    price: {
      id: rec.price_id,
      label: rec.label,
      duration_s: rec.duration_s,
      amount_cents: rec.amount_cents,
    },
    currency: rec.currency,
    state: rec.state,
    message: rec.message,
    created_at: rec.created_at,
    expires_at: rec.expires_at,
    session_id: rec.session_id,
    checkout_url: extra.checkout_url,
    instructions: extra.instructions,
  };
}

export function adminCheckoutView(
  rec: CheckoutRecord,
  extra: { checkout_url: string | null; instructions: string },
): AdminCheckoutView {
  return {
    ...checkoutView(rec, extra),
    paid_at: rec.paid_at,
    paid_by: rec.paid_by,
    resolved_note: rec.resolved_note,
    updated_at: rec.updated_at,
  };
}

export type { Alert };
