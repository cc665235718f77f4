/**
 * Alerts: what needs staff now (derived from the live bay states: offline dispensers, low balls,
 * faults, errors) and the recent alert log the hub published.
 *
 * @module
 */
import type { BayView } from "../../views.ts";
import { needsAttention } from "../bay_status.ts";
import { formatAgo, formatClock } from "../format.ts";
import type { LiveStore } from "../live_store.ts";

/** One line per bay that needs staff, most urgent first. */
export function attentionItems(
  bays: BayView[],
): Array<{ bay: BayView; text: string; severity: "critical" | "warning" }> {
  const out: Array<{ bay: BayView; text: string; severity: "critical" | "warning" }> = [];
  for (const b of bays) {
    if (!needsAttention(b)) continue;
    const parts: string[] = [];
    let severity: "critical" | "warning" = "warning";
    if (b.status === "error") {
      parts.push(`error${b.reason ? `: ${b.reason}` : ""}`);
      severity = "critical";
    }
    if (!b.online || b.status === "offline") parts.push("dispenser offline");
    if (b.fault) {
      parts.push(`fault: ${b.fault}`);
      severity = "critical";
    }
    if (b.ball_level === "empty" || b.ball_level === "urgent") {
      parts.push(`balls ${b.ball_level}`);
      severity = "critical";
    } else if (b.ball_level === "low") parts.push("balls low");
    if (b.status === "active" && (!b.online || b.fault)) severity = "critical";
    out.push({ bay: b, text: parts.join(" · "), severity });
  }
  return out.sort((a, b) =>
    (a.severity === b.severity ? 0 : a.severity === "critical" ? -1 : 1) ||
    a.bay.machine_id - b.bay.machine_id
  );
}

export function AlertsView({ live, onPick }: { live: LiveStore; onPick: (id: number) => void }) {
  const items = attentionItems(live.orderedBays.value);
  const log = [...live.alerts.value].reverse();
  const now = live.clock.tick.value;
  return (
    <div class="alerts-view">
      <section class="card">
        <h2>Needs attention now</h2>
        {items.length === 0 ? <p class="muted">All bays are fine.</p> : (
          <ul class="attention-list">
            {items.map(({ bay, text, severity }) => (
              <li key={bay.machine_id} class={`attention attention--${severity}`}>
                <button
                  type="button"
                  class="link"
                  onClick={() =>
                    onPick(bay.machine_id)}
                >
                  {bay.label}
                </button>
                <span>{text}</span>
                <span class="muted">
                  {bay.last_seen !== null ? `seen ${formatAgo(bay.last_seen, now)}` : "never seen"}
                </span>
              </li>
            ))}
          </ul>
        )}
      </section>
      <section class="card">
        <h2>Recent alerts</h2>
        {log.length === 0
          ? <p class="muted">No alerts since the hub started.</p>
          : (
            <table class="table">
              <thead>
                <tr>
                  <th>Time</th>
                  <th>Bay</th>
                  <th>Kind</th>
                  <th>Message</th>
                </tr>
              </thead>
              <tbody>
                {log.map((a, i) => (
                  <tr key={`${a.at}-${i}`} class={`sev sev--${a.severity}`}>
                    <td>{formatClock(a.at)}</td>
                    <td>{a.machine_id ?? "—"}</td>
                    <td>
                      <span class={`tag tag--${a.severity}`}>{a.kind}</span>
                    </td>
                    <td>{a.message}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
      </section>
    </div>
  );
}
