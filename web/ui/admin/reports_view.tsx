/**
 * The usage report: sessions, minutes and amount per bay and day, as CSV for a spreadsheet.
 *
 * @module
 */
import { useState } from "preact/hooks";
import type { AdminApi } from "./admin_api.ts";

function isoDay(d: Date): string {
  return [d.getFullYear(), d.getMonth() + 1, d.getDate()].map((n) => String(n).padStart(2, "0"))
    .join("-");
}

export function ReportsView({ api, now }: { api: AdminApi; now: number }) {
  const today = isoDay(new Date(now));
  const monthStart = `${today.slice(0, 8)}01`;
  const [from, setFrom] = useState(monthStart);
  const [to, setTo] = useState(today);
  const valid = from !== "" && to !== "" && from <= to;
  return (
    <section class="card reports-view">
      <h2>Usage report</h2>
      <p class="muted">Sessions, minutes played and amount taken per bay and day (CSV).</p>
      <div class="inline">
        <label class="field">
          <span>From</span>
          <input type="date" value={from} onInput={(e) => setFrom(e.currentTarget.value)} />
        </label>
        <label class="field">
          <span>To</span>
          <input type="date" value={to} onInput={(e) => setTo(e.currentTarget.value)} />
        </label>
        <a
          class={`btn btn--primary${valid ? "" : " btn--disabled"}`}
          href={valid ? api.usageCsvUrl(from, to) : undefined}
          aria-disabled={!valid}
          download
          data-testid="usage-csv"
        >
          Download usage CSV
        </a>
      </div>
      {!valid && (
        <p class="notice notice--error">
          Pick a start day that is not after the end day.
        </p>
      )}
    </section>
  );
}
