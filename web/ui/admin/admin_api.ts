/**
 * The admin portal's calls to `/api/admin/*` (see docs/http_api.md). The session cookie is
 * HttpOnly; the CSRF token the login (or `GET /session`) returns is kept in the ApiClient and
 * sent on every change.
 *
 * @module
 */
import type { PriceConfig } from "../../../lib/config.ts";
import type { Alert } from "../../../protocol/hub.ts";
import type { AdminCheckoutView, BayView } from "../../views.ts";
import { type ApiClient, ApiError } from "../api_client.ts";
import { randomKey } from "../random_key.ts";

export interface SessionInfo {
  csrf_token: string;
  expires_at: number;
}

export interface AdminSettings {
  kiosk_title: string;
  hold_s: number;
  prices: PriceConfig[];
}

/** A command as the admin sends it (the bay comes from the path). */
export type AdminCommand =
  | { action: "activate"; duration_s: number; amount_cents?: number }
  | { action: "deactivate"; session_id?: string; reason?: string }
  | { action: "extend"; add_s: number; session_id?: string; amount_cents?: number }
  | { action: "pause"; session_id?: string }
  | { action: "resume"; session_id?: string }
  | { action: "maintenance_on"; reason: string }
  | { action: "maintenance_off" }
  | { action: "release"; hold_id: string };

export interface CommandOutcome {
  action: string;
  forced: boolean;
  duplicate: boolean;
  machine: BayView;
}

export interface LedgerFilter {
  machine?: number;
  origin?: string;
  action?: string;
  outcome?: string;
  from?: number;
  to?: number;
  limit?: number;
}

/** One ledger row as the machine handler records it (fields vary by entry kind). */
export type LedgerEntry = Record<string, unknown>;

export class AdminApi {
  readonly client: ApiClient;

  constructor(client: ApiClient) {
    this.client = client;
  }

  async login(password: string): Promise<SessionInfo> {
    const s = await this.client.post<SessionInfo>("/api/admin/login", { password });
    this.client.csrfToken = s.csrf_token;
    return s;
  }

  /** The current session, or null when not logged in. */
  async session(): Promise<SessionInfo | null> {
    try {
      const s = await this.client.get<SessionInfo>("/api/admin/session");
      this.client.csrfToken = s.csrf_token;
      return s;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return null;
      throw err;
    }
  }

  async logout(): Promise<void> {
    try {
      await this.client.post("/api/admin/logout");
    } finally {
      this.client.csrfToken = null;
    }
  }

  command(machineId: number, cmd: AdminCommand, force: boolean): Promise<CommandOutcome> {
    return this.client.post<CommandOutcome>(`/api/admin/machines/${machineId}/commands`, {
      ...cmd,
      ...(force ? { force: true } : {}),
      idempotency_key: randomKey("admin"),
    });
  }

  async alerts(): Promise<Alert[]> {
    return (await this.client.get<{ alerts: Alert[] }>("/api/admin/alerts")).alerts;
  }

  async ledger(filter: LedgerFilter): Promise<LedgerEntry[]> {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(filter)) {
      if (v !== undefined && v !== "") q.set(k, String(v));
    }
    const qs = q.toString();
    return (await this.client.get<{ entries: LedgerEntry[] }>(
      `/api/admin/ledger${qs ? `?${qs}` : ""}`,
    )).entries;
  }

  async settings(): Promise<AdminSettings> {
    return (await this.client.get<{ settings: AdminSettings }>("/api/admin/settings")).settings;
  }

  async saveSettings(patch: Partial<AdminSettings>): Promise<AdminSettings> {
    return (await this.client.put<{ settings: AdminSettings }>("/api/admin/settings", patch))
      .settings;
  }

  async checkouts(states?: string[], limit = 100): Promise<AdminCheckoutView[]> {
    const q = new URLSearchParams({ limit: String(limit) });
    if (states?.length) q.set("state", states.join(","));
    return (await this.client.get<{ checkouts: AdminCheckoutView[] }>(
      `/api/admin/checkouts?${q}`,
    )).checkouts;
  }

  async resolveCheckout(id: string, note: string): Promise<AdminCheckoutView> {
    return (await this.client.post<{ checkout: AdminCheckoutView }>(
      `/api/admin/checkouts/${encodeURIComponent(id)}/resolve`,
      { note },
    )).checkout;
  }

  /** Where the usage report (CSV) of the days `from`..`to` (YYYY-MM-DD, inclusive) downloads. */
  usageCsvUrl(from: string, to: string): string {
    return `/api/admin/reports/usage.csv?${new URLSearchParams({ from, to })}`;
  }
}
