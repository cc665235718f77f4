/**
 * The admin portal (`/admin`): login, then the live bay grid with the selected bay's actions,
 * alerts, kiosk checkouts, the command ledger, settings and the usage report.
 *
 * @module
 */
import { signal } from "@preact/signals";
import { useEffect } from "preact/hooks";
import { MACHINE_STATUSES } from "../../../protocol/names.ts";
import { adminDisplay } from "../bay_status.ts";
import { BayGrid } from "../components/bay_grid.tsx";
import { ConnectionBanner } from "../components/connection_banner.tsx";
import { Logo } from "../components/logo.tsx";
import type { LiveStore } from "../live_store.ts";
import type { BayView } from "../../views.ts";
import type { AdminApi } from "./admin_api.ts";
import { AlertsView, attentionItems } from "./alerts_view.tsx";
import type { AuthState } from "./auth_state.ts";
import { BayPanel } from "./bay_panel.tsx";
import { CheckoutsView } from "./checkouts_view.tsx";
import { LedgerView } from "./ledger_view.tsx";
import { LoginForm } from "./login_form.tsx";
import { ReportsView } from "./reports_view.tsx";
import { SettingsView } from "./settings_view.tsx";

export type AdminTab = "bays" | "alerts" | "checkouts" | "ledger" | "settings" | "reports";

const tabs: Array<[AdminTab, string]> = [
  ["bays", "Bays"],
  ["alerts", "Alerts"],
  ["checkouts", "Checkouts"],
  ["ledger", "Ledger"],
  ["settings", "Settings"],
  ["reports", "Reports"],
];

export interface AdminAppProps {
  auth: AuthState;
  api: AdminApi;
  live: LiveStore;
}

/** Page-level UI state, outside components so it survives re-renders and re-logins. */
export const adminUi = {
  tab: signal<AdminTab>("bays"),
  selected: signal<number | null>(null),
};

export function AdminApp({ auth, api, live }: AdminAppProps) {
  const phase = auth.phase.value;
  useEffect(() => {
    if (phase !== "in") return;
    live.start();
    api.alerts().then((a) => live.setAlerts(a), () => {});
    return () => live.stop();
  }, [phase]);

  if (phase === "checking") {
    return (
      <div class="login-page">
        <p class="muted">Loading…</p>
      </div>
    );
  }
  if (phase === "out") return <LoginForm auth={auth} />;

  const tab = adminUi.tab.value;
  const bays = live.orderedBays.value;
  const attention = attentionItems(bays).length;
  const counts = countByStatus(bays);
  const pick = (id: number) => {
    adminUi.selected.value = id;
    adminUi.tab.value = "bays";
  };
  return (
    <div class="admin">
      <header class="admin-head">
        <div class="brand">
          <Logo size={36} />
          <div>
            <h1 class="brand-title">{live.status.value?.kiosk_title ?? "Driving range"}</h1>
            <p class="brand-sub">Staff portal</p>
          </div>
        </div>
        <nav class="tabs" aria-label="Sections">
          {tabs.map(([id, label]) => (
            <button
              type="button"
              key={id}
              class={`tab${tab === id ? " tab--on" : ""}`}
              data-tab={id}
              aria-current={tab === id ? "page" : undefined}
              onClick={() => adminUi.tab.value = id}
            >
              {label}
              {id === "alerts" && attention > 0 && <span class="badge">{attention}</span>}
            </button>
          ))}
        </nav>
        <button
          type="button"
          class="btn btn--ghost btn--small"
          data-action="logout"
          onClick={() => auth.logout()}
        >
          Log out
        </button>
      </header>
      <ConnectionBanner live={live} />
      <main class="admin-main">
        {tab === "bays" && <BaysTab live={live} api={api} counts={counts} />}
        {tab === "alerts" && <AlertsView live={live} onPick={pick} />}
        {tab === "checkouts" && <CheckoutsView api={api} live={live} />}
        {tab === "ledger" && <LedgerView api={api} />}
        {tab === "settings" && (
          <SettingsView api={api} currency={live.status.value?.currency ?? "EUR"} />
        )}
        {tab === "reports" && <ReportsView api={api} now={live.clock.now()} />}
      </main>
    </div>
  );
}

function countByStatus(bays: BayView[]): Array<[string, number]> {
  const m = new Map<string, number>();
  for (const b of bays) m.set(b.status, (m.get(b.status) ?? 0) + 1);
  const order: string[] = [...MACHINE_STATUSES, "unknown"];
  return order.filter((s) => m.has(s)).map((s) => [s, m.get(s) ?? 0]);
}

function BaysTab(
  { live, api, counts }: { live: LiveStore; api: AdminApi; counts: Array<[string, number]> },
) {
  const selectedId = adminUi.selected.value;
  const selected = selectedId !== null ? live.bays.value.get(selectedId) : undefined;
  return (
    <div class={`bays-tab${selected ? " bays-tab--panel" : ""}`}>
      <div class="bays-left">
        <ul class="counts" aria-label="Bays by status">
          {counts.map(([s, n]) => (
            <li key={s} class={`count count--${s}`}>
              <strong>{n}</strong> {s}
            </li>
          ))}
        </ul>
        <BayGrid
          variant="admin"
          layout={live.status.value?.layout ?? null}
          bays={live.bays.value}
          clock={live.clock}
          display={adminDisplay}
          ending={(b) => live.endingSoon(b)}
          selected={selectedId}
          onPick={(b) => adminUi.selected.value = b.machine_id}
          extra={(b) => (
            <span class="bay-extra">
              <span class={`balls balls--${b.ball_level}`} title="Ball level">{b.ball_level}</span>
              {b.reason && b.status !== "active" && <span class="bay-reason">{b.reason}</span>}
            </span>
          )}
        />
      </div>
      {selected && (
        <BayPanel
          key={selected.machine_id}
          bay={selected}
          live={live}
          api={api}
          onClose={() => adminUi.selected.value = null}
        />
      )}
    </div>
  );
}
