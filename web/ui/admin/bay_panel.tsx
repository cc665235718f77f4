/**
 * The selected bay in the admin portal: everything the hub knows about it and every action
 * staff can take. "Force" overrides the machine handler's conflict rules; it is marked in red
 * and recorded in the ledger.
 *
 * @module
 */
import { useState } from "preact/hooks";
import type { BayView } from "../../views.ts";
import { ApiError } from "../api_client.ts";
import { Countdown } from "../components/countdown.tsx";
import { formatAgo, formatDateTime, formatDuration, formatMoney } from "../format.ts";
import type { LiveStore } from "../live_store.ts";
import type { AdminApi, AdminCommand } from "./admin_api.ts";

export interface BayPanelProps {
  bay: BayView;
  live: LiveStore;
  api: AdminApi;
  onClose: () => void;
}

type Result = { ok: boolean; text: string } | null;

/** Which actions make sense in a status (the others are offered only with Force). */
export function allowedActions(bay: BayView): Set<AdminCommand["action"]> {
  switch (bay.status) {
    case "available":
      return new Set(["activate", "maintenance_on"]);
    case "active":
      return new Set(["extend", "pause", "deactivate", "maintenance_on"]);
    case "paused":
      return new Set(["resume", "extend", "deactivate", "maintenance_on"]);
    case "reserved":
      return new Set(bay.hold ? ["release", "maintenance_on"] : ["activate", "maintenance_on"]);
    case "maintenance":
      return new Set(["maintenance_off"]);
    case "offline":
    case "error":
      return new Set(["maintenance_on", "deactivate"]);
    default:
      return new Set();
  }
}

const actionWords: Record<AdminCommand["action"], string> = {
  activate: "Started",
  deactivate: "Ended the session on",
  extend: "Extended",
  pause: "Paused",
  resume: "Resumed",
  maintenance_on: "Put in maintenance:",
  maintenance_off: "Back in service:",
  release: "Released the hold on",
};

export function BayPanel({ bay, live, api, onClose }: BayPanelProps) {
  const prices = live.status.value?.prices ?? [];
  const currency = live.status.value?.currency ?? "EUR";
  const [force, setForce] = useState(false);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<Result>(null);
  const [duration, setDuration] = useState(String(prices[0]?.duration_s ?? 3600));
  const [amount, setAmount] = useState("");
  const [addMin, setAddMin] = useState("15");
  const [reason, setReason] = useState("");
  const allowed = allowedActions(bay);
  const can = (a: AdminCommand["action"]) => !busy && (force || allowed.has(a));
  const sid = bay.session?.session_id;

  const run = async (cmd: AdminCommand) => {
    setBusy(true);
    setResult(null);
    try {
      const out = await api.command(bay.machine_id, cmd, force);
      live.applyMachine(out.machine);
      setResult({
        ok: true,
        text: `${actionWords[cmd.action]} ${out.machine.label}${out.forced ? " (forced)" : ""}` +
          `${out.duplicate ? " — already done earlier" : ""}.`,
      });
      if (cmd.action === "maintenance_on") setReason("");
    } catch (err) {
      setResult({
        ok: false,
        text: err instanceof ApiError || err instanceof Error ? err.message : String(err),
      });
    } finally {
      setBusy(false);
    }
  };

  return (
    <aside
      class={`bay-panel${force ? " bay-panel--force" : ""}`}
      aria-label={`${bay.label} actions`}
    >
      <header class="panel-head">
        <div>
          <h2>{bay.label}</h2>
          <p class={`status-pill status-pill--${bay.status}`} data-testid="panel-status">
            {bay.status}
          </p>
        </div>
        <button
          type="button"
          class="btn btn--ghost btn--small"
          onClick={onClose}
          aria-label="Close"
        >
          ✕
        </button>
      </header>

      <dl class="facts">
        <dt>Dispenser</dt>
        <dd>
          {bay.online ? "online" : "offline"}
          {bay.last_seen !== null && ` · seen ${formatAgo(bay.last_seen, live.clock.tick.value)}`}
        </dd>
        <dt>Balls</dt>
        <dd class={`balls balls--${bay.ball_level}`}>{bay.ball_level}</dd>
        {bay.reason && (
          <>
            <dt>Reason</dt>
            <dd>{bay.reason}</dd>
          </>
        )}
        {bay.fault && (
          <>
            <dt>Fault</dt>
            <dd class="fault">{bay.fault}</dd>
          </>
        )}
        {bay.session && (
          <>
            <dt>Session</dt>
            <dd>
              <Countdown clock={live.clock} session={bay.session} class="panel-countdown" /> left of
              {" "}
              {formatDuration(bay.session.paid_s)}
              {bay.session.paid_until === null && " (paused)"}
            </dd>
            <dt>Started</dt>
            <dd>
              {formatDateTime(bay.session.started_at)} by {bay.session.origin}
              {bay.session.amount_cents > 0 &&
                ` · ${formatMoney(bay.session.amount_cents, currency)}`}
            </dd>
          </>
        )}
        {bay.hold && (
          <>
            <dt>Held</dt>
            <dd>
              by {bay.hold.origin} for <Countdown clock={live.clock} until={bay.hold.expires_at} />
            </dd>
          </>
        )}
      </dl>

      {result && (
        <p
          class={`notice ${result.ok ? "notice--ok" : "notice--error"}`}
          role={result.ok ? "status" : "alert"}
          data-testid="command-result"
        >
          {result.text}
        </p>
      )}
      <div class="actions">
        <fieldset class="action-group">
          <legend>Start a session</legend>
          <div class="inline">
            <select
              aria-label="Duration"
              value={duration}
              onChange={(e) => setDuration(e.currentTarget.value)}
            >
              {[...new Set([...prices.map((p) => p.duration_s), 900, 1800, 3600, 5400, 7200])]
                .sort((a, b) => a - b)
                .map((s) => <option key={s} value={String(s)}>{formatDuration(s)}</option>)}
            </select>
            <input
              type="number"
              min="0"
              step="0.01"
              placeholder={currency}
              aria-label={`Amount paid (${currency})`}
              title="Amount paid (optional)"
              value={amount}
              onInput={(e) => setAmount(e.currentTarget.value)}
            />
            <button
              type="button"
              class="btn btn--primary"
              data-action="activate"
              disabled={!can("activate")}
              onClick={() =>
                run({
                  action: "activate",
                  duration_s: Number(duration),
                  ...(amount !== "" ? { amount_cents: Math.round(Number(amount) * 100) } : {}),
                })}
            >
              Activate
            </button>
          </div>
        </fieldset>

        <fieldset class="action-group">
          <legend>Running session</legend>
          <div class="inline">
            <input
              type="number"
              min="1"
              max="720"
              aria-label="Minutes to add"
              value={addMin}
              onInput={(e) => setAddMin(e.currentTarget.value)}
            />
            <span class="unit">min</span>
            <button
              type="button"
              class="btn"
              data-action="extend"
              disabled={!can("extend") || !(Number(addMin) >= 1)}
              onClick={() =>
                run({ action: "extend", add_s: Math.round(Number(addMin) * 60), session_id: sid })}
            >
              Extend
            </button>
          </div>
          <div class="inline">
            <button
              type="button"
              class="btn"
              data-action="pause"
              disabled={!can("pause")}
              onClick={() => run({ action: "pause", session_id: sid })}
            >
              Pause
            </button>
            <button
              type="button"
              class="btn"
              data-action="resume"
              disabled={!can("resume")}
              onClick={() => run({ action: "resume", session_id: sid })}
            >
              Resume
            </button>
            <button
              type="button"
              class="btn btn--danger"
              data-action="deactivate"
              disabled={!can("deactivate")}
              onClick={() => {
                if (confirm(`End the session on ${bay.label} now? The dispenser stops.`)) {
                  void run({ action: "deactivate", session_id: sid, reason: "ended by staff" });
                }
              }}
            >
              Deactivate
            </button>
          </div>
          {bay.hold && (
            <div class="inline">
              <button
                type="button"
                class="btn"
                data-action="release"
                disabled={!can("release")}
                onClick={() => bay.hold && run({ action: "release", hold_id: bay.hold.hold_id })}
              >
                Release payment hold
              </button>
            </div>
          )}
        </fieldset>

        <fieldset class="action-group">
          <legend>Maintenance</legend>
          <div class="inline">
            <input
              type="text"
              name="reason"
              maxLength={200}
              placeholder="Reason, e.g. jammed feeder"
              aria-label="Maintenance reason"
              value={reason}
              onInput={(e) => setReason(e.currentTarget.value)}
            />
            <button
              type="button"
              class="btn btn--warn"
              data-action="maintenance_on"
              disabled={!can("maintenance_on") || reason.trim() === ""}
              title={reason.trim() === "" ? "Enter a reason first" : undefined}
              onClick={() => run({ action: "maintenance_on", reason: reason.trim() })}
            >
              Maintenance on
            </button>
          </div>
          <div class="inline">
            <button
              type="button"
              class="btn"
              data-action="maintenance_off"
              disabled={!can("maintenance_off")}
              onClick={() => run({ action: "maintenance_off" })}
            >
              Maintenance off
            </button>
          </div>
        </fieldset>

        <label class={`force-toggle${force ? " force-toggle--on" : ""}`}>
          <input
            type="checkbox"
            name="force"
            checked={force}
            onChange={(e) => setForce(e.currentTarget.checked)}
          />
          <span>
            <strong>Force override</strong>
            <small>Ignores the conflict rules (e.g. a bay someone is paying for). Recorded.</small>
          </span>
        </label>
      </div>
    </aside>
  );
}
