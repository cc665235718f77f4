/**
 * Settings staff can change: the kiosk title, how long a bay is held while a customer pays, and
 * the price list (each entry: id, label, duration, amount). Saved settings apply at once: open
 * kiosks update through the event stream.
 *
 * @module
 */
import { useEffect, useState } from "preact/hooks";
import type { PriceConfig } from "../../../lib/config.ts";
import { ApiError } from "../api_client.ts";
import type { AdminApi, AdminSettings } from "./admin_api.ts";

interface PriceRow {
  id: string;
  label: string;
  minutes: string;
  amount: string;
}

function toRows(prices: PriceConfig[]): PriceRow[] {
  return prices.map((p) => ({
    id: p.id,
    label: p.label,
    minutes: String(p.duration_s / 60),
    amount: (p.amount_cents / 100).toFixed(2),
  }));
}

/** Turns the form into a settings body, or says what is wrong with it. */
export function settingsFromForm(
  title: string,
  holdS: string,
  rows: PriceRow[],
): { ok: true; value: AdminSettings } | { ok: false; error: string } {
  if (title.trim() === "") return { ok: false, error: "Enter a kiosk title." };
  const hold = Number(holdS);
  if (!Number.isInteger(hold) || hold < 5 || hold > 900) {
    return { ok: false, error: "The hold time must be a whole number of seconds, 5 to 900." };
  }
  if (rows.length === 0) return { ok: false, error: "Keep at least one price." };
  const prices: PriceConfig[] = [];
  const ids = new Set<string>();
  for (const [i, r] of rows.entries()) {
    const n = i + 1;
    const id = r.id.trim();
    if (!/^[a-z0-9][a-z0-9_-]{0,31}$/.test(id)) {
      return {
        ok: false,
        error: `Price ${n}: the id must be lowercase letters, digits, '_' or '-' (e.g. 60min).`,
      };
    }
    if (ids.has(id)) return { ok: false, error: `Price ${n}: the id '${id}' is used twice.` };
    ids.add(id);
    if (r.label.trim() === "") return { ok: false, error: `Price ${n}: enter a label.` };
    const minutes = Number(r.minutes);
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > 720) {
      return { ok: false, error: `Price ${n}: minutes must be a whole number, 1 to 720.` };
    }
    const amount = Number(r.amount);
    if (!Number.isFinite(amount) || amount < 0) {
      return { ok: false, error: `Price ${n}: enter the amount, e.g. 14.00.` };
    }
    prices.push({
      id,
      label: r.label.trim(),
      duration_s: minutes * 60,
      amount_cents: Math.round(amount * 100),
    });
  }
  return { ok: true, value: { kiosk_title: title.trim(), hold_s: hold, prices } };
}

export function SettingsView({ api, currency }: { api: AdminApi; currency: string }) {
  const [title, setTitle] = useState("");
  const [hold, setHold] = useState("");
  const [rows, setRows] = useState<PriceRow[] | null>(null);
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);

  const fill = (s: AdminSettings) => {
    setTitle(s.kiosk_title);
    setHold(String(s.hold_s));
    setRows(toRows(s.prices));
  };
  useEffect(() => {
    api.settings().then(fill, (err) => setMessage({ ok: false, text: String(err.message ?? err) }));
  }, []);

  if (!rows) {
    return (
      <section class="card">
        <h2>Settings</h2>
        {message
          ? <p class="notice notice--error">{message.text}</p>
          : <p class="muted">Loading…</p>}
      </section>
    );
  }

  const setRow = (i: number, patch: Partial<PriceRow>) =>
    setRows(rows.map((r, j) => (j === i ? { ...r, ...patch } : r)));

  const save = async () => {
    const parsed = settingsFromForm(title, hold, rows);
    if (!parsed.ok) {
      setMessage({ ok: false, text: parsed.error });
      return;
    }
    setBusy(true);
    setMessage(null);
    try {
      fill(await api.saveSettings(parsed.value));
      setMessage({ ok: true, text: "Saved. The kiosks show the new prices now." });
    } catch (err) {
      const details = err instanceof ApiError && Array.isArray(err.details)
        ? " " + (err.details as Array<{ path?: string[]; message?: string }>)
          .map((d) => `${(d.path ?? []).join(".")}: ${d.message}`).join("; ")
        : "";
      setMessage({ ok: false, text: `${(err as Error).message}${details}` });
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="card settings-view">
      <h2>Settings</h2>
      <div class="settings-grid">
        <label class="field">
          <span>Kiosk title</span>
          <input
            name="kiosk_title"
            value={title}
            maxLength={80}
            onInput={(e) => setTitle(e.currentTarget.value)}
          />
        </label>
        <label class="field field--narrow">
          <span>Hold while paying (s)</span>
          <input
            type="number"
            name="hold_s"
            min="5"
            max="900"
            value={hold}
            onInput={(e) => setHold(e.currentTarget.value)}
          />
        </label>
      </div>
      <h3>Price list</h3>
      <table class="table price-table">
        <thead>
          <tr>
            <th>Id</th>
            <th>Label on the kiosk</th>
            <th>Minutes</th>
            <th>Amount ({currency})</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {rows.map((r, i) => (
            <tr key={i}>
              <td>
                <input
                  aria-label={`Price ${i + 1} id`}
                  value={r.id}
                  onInput={(e) => setRow(i, { id: e.currentTarget.value })}
                />
              </td>
              <td>
                <input
                  aria-label={`Price ${i + 1} label`}
                  value={r.label}
                  onInput={(e) => setRow(i, { label: e.currentTarget.value })}
                />
              </td>
              <td>
                <input
                  type="number"
                  min="1"
                  max="720"
                  aria-label={`Price ${i + 1} minutes`}
                  value={r.minutes}
                  onInput={(e) => setRow(i, { minutes: e.currentTarget.value })}
                />
              </td>
              <td>
                <input
                  type="number"
                  min="0"
                  step="0.01"
                  aria-label={`Price ${i + 1} amount`}
                  value={r.amount}
                  onInput={(e) => setRow(i, { amount: e.currentTarget.value })}
                />
              </td>
              <td>
                <button
                  type="button"
                  class="btn btn--ghost btn--small"
                  disabled={rows.length <= 1}
                  onClick={() => setRows(rows.filter((_, j) => j !== i))}
                >
                  Remove
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <div class="inline">
        <button
          type="button"
          class="btn"
          onClick={() => setRows([...rows, { id: "", label: "", minutes: "30", amount: "0.00" }])}
        >
          Add price
        </button>
        <button type="button" class="btn btn--primary" disabled={busy} onClick={save}>
          {busy ? "Saving…" : "Save settings"}
        </button>
      </div>
      {message && (
        <p
          class={`notice ${message.ok ? "notice--ok" : "notice--error"}`}
          role={message.ok ? "status" : "alert"}
        >
          {message.text}
        </p>
      )}
    </section>
  );
}
