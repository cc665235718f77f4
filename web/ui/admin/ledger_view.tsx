/**
 * The command ledger with filters: every command the machine handler received (who sent it,
 * what it asked, the outcome and why), newest first.
 *
 * @module
 */
import { useEffect, useState } from "preact/hooks";
import { COMMAND_ACTIONS } from "../../../protocol/names.ts";
import { formatDateTime } from "../format.ts";
import type { AdminApi, LedgerEntry, LedgerFilter } from "./admin_api.ts";

const origins = ["", "kiosk", "admin", "webhook", "timer", "machine_handler", "reservations"];
/** Every command action, and `expire` (the timer's end of a session), "" for any. */
const actions = ["", ...COMMAND_ACTIONS, "expire"];

interface Form {
  machine: string;
  origin: string;
  action: string;
  outcome: string;
  from: string;
  to: string;
  limit: string;
}

const emptyForm: Form = {
  machine: "",
  origin: "",
  action: "",
  outcome: "",
  from: "",
  to: "",
  limit: "100",
};

/** The form's fields as the ledger query (datetime-local fields are local time). */
export function ledgerFilter(f: Form): LedgerFilter {
  const out: LedgerFilter = {};
  if (f.machine.trim() !== "") out.machine = Number(f.machine);
  if (f.origin) out.origin = f.origin;
  if (f.action) out.action = f.action;
  if (f.outcome.trim()) out.outcome = f.outcome.trim();
  if (f.from) out.from = new Date(f.from).getTime();
  if (f.to) out.to = new Date(f.to).getTime();
  if (f.limit) out.limit = Number(f.limit);
  return out;
}

function text(v: unknown): string {
  if (v === null || v === undefined || v === "") return "—";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

export function LedgerView({ api }: { api: AdminApi }) {
  const [form, setForm] = useState<Form>(emptyForm);
  const [rows, setRows] = useState<LedgerEntry[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const load = async (f: Form) => {
    setBusy(true);
    setError(null);
    try {
      setRows(await api.ledger(ledgerFilter(f)));
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  useEffect(() => {
    void load(emptyForm);
  }, []);

  const field = (k: keyof Form) => ({
    value: form[k],
    onInput: (e: { currentTarget: { value: string } }) =>
      setForm({ ...form, [k]: e.currentTarget.value }),
  });

  return (
    <section class="card ledger-view">
      <h2>Command ledger</h2>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          void load(form);
        }}
      >
        <label class="field field--narrow">
          <span>Bay</span>
          <input type="number" min="1" name="machine" {...field("machine")} />
        </label>
        <label class="field">
          <span>Origin</span>
          <select name="origin" {...field("origin")}>
            {origins.map((o) => <option key={o} value={o}>{o || "any"}</option>)}
          </select>
        </label>
        <label class="field">
          <span>Action</span>
          <select name="action" {...field("action")}>
            {actions.map((a) => <option key={a} value={a}>{a || "any"}</option>)}
          </select>
        </label>
        <label class="field">
          <span>Outcome</span>
          <input name="outcome" list="outcomes" placeholder="any" {...field("outcome")} />
          <datalist id="outcomes">
            {["ok", "pending", "conflict", "in_maintenance", "machine_offline", "device_timeout"]
              .map((o) => <option key={o} value={o} />)}
          </datalist>
        </label>
        <label class="field">
          <span>From</span>
          <input type="datetime-local" name="from" {...field("from")} />
        </label>
        <label class="field">
          <span>To</span>
          <input type="datetime-local" name="to" {...field("to")} />
        </label>
        <label class="field field--narrow">
          <span>Rows</span>
          <select name="limit" {...field("limit")}>
            {["50", "100", "250", "1000"].map((n) => <option key={n} value={n}>{n}</option>)}
          </select>
        </label>
        <div class="filter-buttons">
          <button type="submit" class="btn btn--primary" disabled={busy}>
            {busy ? "Loading…" : "Apply"}
          </button>
          <button
            type="button"
            class="btn btn--ghost"
            onClick={() => {
              setForm(emptyForm);
              void load(emptyForm);
            }}
          >
            Clear
          </button>
        </div>
      </form>
      {error && <p class="notice notice--error" role="alert">{error}</p>}
      {rows && rows.length === 0 && <p class="muted">No ledger entries match these filters.</p>}
      {rows && rows.length > 0 && (
        <div class="table-scroll">
          <table class="table ledger-table">
            <thead>
              <tr>
                <th>Time</th>
                <th>Bay</th>
                <th>Origin</th>
                <th>Action</th>
                <th>Outcome</th>
                <th>Reason</th>
                <th>Flags</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r, i) => {
                const outcome = text(r.outcome);
                const at = typeof r.received_at === "number" ? r.received_at : null;
                return (
                  <tr key={text(r.seq ?? i)}>
                    <td class="nowrap">{at !== null ? formatDateTime(at) : "—"}</td>
                    <td>{text(r.machine_id)}</td>
                    <td>{text(r.origin)}</td>
                    <td>{text(r.action)}</td>
                    <td>
                      <span
                        class={`tag ${
                          outcome === "ok"
                            ? "tag--ok"
                            : outcome === "pending"
                            ? "tag--info"
                            : "tag--warning"
                        }`}
                      >
                        {outcome}
                      </span>
                    </td>
                    <td class="reason-cell">{text(r.reason ?? r.code)}</td>
                    <td>
                      {r.forced ? <span class="tag tag--critical">forced</span> : null}
                      {r.duplicate ? <span class="tag tag--info">duplicate</span> : null}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
