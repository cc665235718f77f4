/**
 * The kiosk page: the range's bays, live, and the purchase screens over them.
 *
 * @module
 */
import { BayGrid } from "../components/bay_grid.tsx";
import { ConnectionBanner } from "../components/connection_banner.tsx";
import { Logo } from "../components/logo.tsx";
import { kioskDisplay } from "../bay_status.ts";
import { formatDuration, formatMoney } from "../format.ts";
import type { LiveStore } from "../live_store.ts";
import type { Purchase } from "./purchase.ts";
import { PurchaseSheet } from "./purchase_sheet.tsx";

export interface KioskAppProps {
  live: LiveStore;
  purchase: Purchase;
}

const legend = [
  ["free", "Available"],
  ["playing", "In play"],
  ["paused", "Paused"],
  ["reserved", "Reserved"],
  ["down", "Out of order"],
] as const;

export function KioskApp({ live, purchase }: KioskAppProps) {
  const status = live.status.value;
  const bays = live.bays.value;
  const step = purchase.step.value;
  const free = [...bays.values()].filter((b) => kioskDisplay(b).selectable).length;
  const cheapest = status?.prices.reduce(
    (a, p) => (a === null || p.amount_cents < a.amount_cents ? p : a),
    null as null | { amount_cents: number; duration_s: number },
  );
  return (
    <div class="kiosk" data-ready={status ? "true" : "false"}>
      <header class="kiosk-head">
        <div class="brand">
          <Logo />
          <h1 class="brand-title">{status?.kiosk_title ?? "Driving range"}</h1>
        </div>
        <div class="kiosk-head-info">
          <Clock live={live} />
        </div>
      </header>
      <ConnectionBanner live={live} />
      <section class="kiosk-intro">
        <div>
          <h2 class="kiosk-call">Tap a green bay to start playing</h2>
          <p class="kiosk-sub">
            {status
              ? `${free} of ${bays.size} bays free` +
                (cheapest
                  ? ` · from ${formatMoney(cheapest.amount_cents, status.currency)} for ${
                    formatDuration(cheapest.duration_s)
                  }`
                  : "")
              : "Connecting to the range…"}
          </p>
        </div>
        <ul class="legend" aria-label="Legend">
          {legend.map(([tone, label]) => (
            <li key={tone}>
              <span class={`swatch swatch--${tone}`} aria-hidden="true" />
              {label}
            </li>
          ))}
        </ul>
      </section>
      <main class="kiosk-main" aria-hidden={step.kind !== "idle"}>
        <BayGrid
          variant="kiosk"
          layout={status?.layout ?? null}
          bays={bays}
          clock={live.clock}
          display={kioskDisplay}
          ending={(b) => live.endingSoon(b)}
          onPick={(b) => purchase.pickBay(b)}
          selected={step.kind === "price" || step.kind === "method" ? step.bayId : null}
        />
      </main>
      <footer class="kiosk-foot">Need help? Ask at the counter.</footer>
      <PurchaseSheet live={live} purchase={purchase} />
    </div>
  );
}

function Clock({ live }: { live: LiveStore }) {
  const d = new Date(live.clock.tick.value);
  const hh = String(d.getHours()).padStart(2, "0");
  const mm = String(d.getMinutes()).padStart(2, "0");
  return <time class="clock">{hh}:{mm}</time>;
}
