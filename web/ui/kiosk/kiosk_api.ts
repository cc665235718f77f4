/**
 * The kiosk's calls to the hub (see docs/http_api.md): open a checkout (this holds the bay),
 * enter the staff code, cancel, and read a checkout's state.
 *
 * @module
 */
import { type ApiClient, ApiError } from "../api_client.ts";
import type { BayView, CheckoutView } from "../../views.ts";

export interface BeginRequest {
  machine_id: number;
  price_id: string;
  provider: string;
}

export interface KioskApi {
  /** Holds the bay and opens a checkout; rejects with ApiError when the bay cannot be held. */
  begin(req: BeginRequest): Promise<CheckoutView>;
  /** A staff code for a counter checkout; resolves to the checkout after the bay started. */
  submitCode(id: string, code: string): Promise<CheckoutView>;
  /** Releases the hold. */
  cancel(id: string): Promise<CheckoutView>;
  get(id: string): Promise<CheckoutView>;
}

/**
 * The kiosk API over HTTP. Every answer carries the checkout and the bay as it now stands;
 * `onMachine` gets the bay so the grid updates at once (the event stream confirms it).
 */
export function httpKioskApi(api: ApiClient, onMachine?: (bay: BayView) => void): KioskApi {
  const path = (id: string) => `/api/kiosk/checkouts/${encodeURIComponent(id)}`;
  const unwrap = (body: CheckoutAnswer): CheckoutView => {
    if (body.machine) onMachine?.(body.machine);
    return body.checkout;
  };
  return {
    begin: async (req) => unwrap(await api.post<CheckoutAnswer>("/api/kiosk/checkouts", req)),
    submitCode: async (id, code) => {
      try {
        return unwrap(await api.post<CheckoutAnswer>(`${path(id)}/code`, { code }));
      } catch (err) {
        // A refusal after payment still carries the checkout and the bay.
        if (err instanceof ApiError && isAnswer(err.body)) unwrap(err.body);
        throw err;
      }
    },
    cancel: async (id) => unwrap(await api.post<CheckoutAnswer>(`${path(id)}/cancel`)),
    get: async (id) => unwrap(await api.get<CheckoutAnswer>(path(id))),
  };
}

interface CheckoutAnswer {
  checkout: CheckoutView;
  machine: BayView | null;
}

function isAnswer(v: unknown): v is CheckoutAnswer {
  return typeof v === "object" && v !== null && "checkout" in v;
}
