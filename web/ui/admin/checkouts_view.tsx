/**
 * Kiosk checkouts: the recent ones, and those that need staff (paid but no bay started, e.g. a
 * payment that arrived after the hold lapsed) with a way to record how they were settled.
 *
 * @module
 */
import { useEffect, useState } from "preact/hooks";
import type { AdminCheckoutView } from "../../views.ts";
import { formatDateTime, formatMoney } from "../format.ts";
import type { LiveStore } from "../live_store.ts";
import type { AdminApi } from "./admin_api.ts";

export function CheckoutsView({ api, live }: { api: AdminApi; live: LiveStore }) {
  const [rows, setRows] = useState<AdminCheckoutView[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notes, setNotes] = useState<Record<string, string>>({});

  const load = () => api.checkouts(undefined, 100).then(setRows, (e) => setError(e.message));
  useEffect(() => {
    void load();
    return live.onCheckout(() => void load());
  }, []);

  const resolve = async (id: string) => {
    const note = (notes[id] ?? "").trim();
    if (!note) {
      setError("Say how it was settled first, e.g. 'refunded in cash'.");
      return;
    }
    try {
      await api.resolveCheckout(id, note);
      setError(null);
      await load();
    } catch (err) {
      setError((err as Error).message);
    }
  };

  const open = rows?.filter((r) => r.state === "needs_refund") ?? [];
  return (
    <div class="checkouts-view">
      {error && <p class="notice notice--error" role="alert">{error}</p>}
      <section class="card">
        <h2>Needs staff</h2>
        {open.length === 0
          ? <p class="muted">No payment needs a refund or a manual start.</p>
          : (
            <ul class="refund-list">
              {open.map((c) => (
                <li key={c.id} class="refund">
                  <div>
                    <strong>{c.reference}</strong> · bay {c.machine_id} · {c.price.label} ·{" "}
                    {formatMoney(c.price.amount_cents, c.currency)}
                    <p class="muted">{c.message}</p>
                  </div>
                  <div class="inline">
                    <input
                      placeholder="How it was settled"
                      value={notes[c.id] ?? ""}
                      onInput={(e) => setNotes({ ...notes, [c.id]: e.currentTarget.value })}
                    />
                    <button type="button" class="btn btn--primary" onClick={() => resolve(c.id)}>
                      Mark settled
                    </button>
                  </div>
                </li>
              ))}
            </ul>
          )}
      </section>
      <section class="card">
        <h2>Recent checkouts</h2>
        {!rows
          ? <p class="muted">Loading…</p>
          : rows.length === 0
          ? <p class="muted">No checkouts yet.</p>
          : (
            <div class="table-scroll">
              <table class="table">
                <thead>
                  <tr>
                    <th>Created</th>
                    <th>Reference</th>
                    <th>Bay</th>
                    <th>Price</th>
                    <th>Paid with</th>
                    <th>State</th>
                    <th>By</th>
                  </tr>
                </thead>
                <tbody>
                  {rows.map((c) => (
                    <tr key={c.id}>
                      <td class="nowrap">{formatDateTime(c.created_at)}</td>
                      <td class="mono">{c.reference}</td>
                      <td>{c.machine_id}</td>
                      <td>
                        {c.price.label} · {formatMoney(c.price.amount_cents, c.currency)}
                      </td>
                      <td>{c.provider}</td>
                      <td>
                        <span class={`tag tag--state-${c.state}`}>{c.state}</span>
                      </td>
                      <td>{c.paid_by ?? "—"}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
      </section>
    </div>
  );
}
