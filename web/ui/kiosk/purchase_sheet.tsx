/**
 * The kiosk's purchase screens, shown over the bay grid: choose a time, choose how to pay, pay
 * (staff code keypad, or the external provider's reference), and the result.
 *
 * @module
 */
import type { PriceConfig } from "../../../lib/config.ts";
import type { CheckoutView } from "../../views.ts";
import { Countdown } from "../components/countdown.tsx";
import { Keypad } from "../components/keypad.tsx";
import { formatDuration, formatMoney } from "../format.ts";
import type { LiveStore } from "../live_store.ts";
import type { Purchase, Step } from "./purchase.ts";

export interface SheetProps {
  live: LiveStore;
  purchase: Purchase;
}

export function PurchaseSheet({ live, purchase }: SheetProps) {
  const step = purchase.step.value;
  if (step.kind === "idle") return null;
  return (
    <div class="sheet-backdrop" onPointerDown={() => purchase.touched()}>
      <div
        class={`sheet sheet--${step.kind}`}
        role="dialog"
        aria-modal="true"
        aria-labelledby="sheet-title"
        data-step={step.kind}
      >
        <SheetBody step={step} live={live} purchase={purchase} />
      </div>
    </div>
  );
}

function bayLabel(live: LiveStore, id: number): string {
  return live.bay(id)?.label ?? `Bay ${id}`;
}

function SheetBody({ step, live, purchase }: SheetProps & { step: Step }) {
  const currency = live.status.value?.currency ?? "EUR";
  switch (step.kind) {
    case "idle":
      return null;
    case "price":
    case "method": {
      const prices = live.status.value?.prices ?? [];
      const chosen = step.kind === "method" ? step.price : null;
      return (
        <>
          <header class="sheet-head">
            <p class="sheet-kicker">{bayLabel(live, step.bayId)}</p>
            <h1 id="sheet-title">
              {step.kind === "price"
                ? "How long would you like to play?"
                : "How would you like to pay?"}
            </h1>
          </header>
          {step.kind === "price"
            ? (
              <div class="price-list">
                {prices.map((p) => (
                  <PriceButton
                    key={p.id}
                    price={p}
                    currency={currency}
                    onPick={() => purchase.pickPrice(p)}
                  />
                ))}
              </div>
            )
            : (
              <>
                <p class="sheet-summary">
                  {chosen?.label} · {chosen && formatMoney(chosen.amount_cents, currency)}
                </p>
                <div class="method-list">
                  {purchase.providers().map((m) => (
                    <button
                      type="button"
                      key={m.id}
                      class="choice choice--method"
                      data-provider={m.id}
                      onClick={() => chosen && void purchase.pay(step.bayId, chosen, m.id)}
                    >
                      <span class="choice-title">{m.label}</span>
                      <span class="choice-sub">{methodHint(m.id)}</span>
                    </button>
                  ))}
                </div>
              </>
            )}
          <footer class="sheet-actions">
            {step.kind === "method" && (
              <button
                type="button"
                class="btn btn--ghost"
                onClick={() => purchase.backToPrices()}
              >
                ‹ Change time
              </button>
            )}
            <button
              type="button"
              class="btn btn--ghost"
              data-action="back"
              onClick={() => purchase.reset()}
            >
              Back to all bays
            </button>
          </footer>
        </>
      );
    }
    case "holding":
      return (
        <div class="sheet-center">
          <div class="spinner" aria-hidden="true" />
          <h1 id="sheet-title">Reserving {bayLabel(live, step.bayId)}…</h1>
          <p class="sheet-lead">One moment please.</p>
        </div>
      );
    case "pay":
    case "confirming":
      return (
        <PayStep
          checkout={step.checkout}
          busy={step.kind === "confirming"}
          live={live}
          purchase={purchase}
        />
      );
    case "done":
      return <DoneStep checkout={step.checkout} live={live} purchase={purchase} />;
    case "problem":
      return (
        <div class="sheet-center sheet-problem" role="alert">
          <div class="problem-icon" aria-hidden="true">!</div>
          <h1 id="sheet-title">{step.title}</h1>
          <p class="sheet-lead problem-message">{step.message}</p>
          {step.checkout && (
            <p class="problem-reference">
              Reference <strong data-testid="reference">{step.checkout.reference}</strong>
            </p>
          )}
          <button
            type="button"
            class="btn btn--primary btn--wide"
            data-action="ack"
            onClick={() => purchase.acknowledge()}
          >
            Pick a bay
          </button>
        </div>
      );
  }
}

function methodHint(id: string): string {
  if (id === "counter") return "Pay staff at the counter; they enter their code here";
  if (id === "external") return "Pay at the card terminal or with your phone";
  return "";
}

function PriceButton(
  { price, currency, onPick }: { price: PriceConfig; currency: string; onPick: () => void },
) {
  return (
    <button type="button" class="choice choice--price" data-price={price.id} onClick={onPick}>
      <span class="choice-title">{price.label}</span>
      <span class="choice-sub">{formatDuration(price.duration_s)} of play</span>
      <span class="choice-amount">{formatMoney(price.amount_cents, currency)}</span>
    </button>
  );
}

function PayStep(
  { checkout, busy, live, purchase }: SheetProps & { checkout: CheckoutView; busy: boolean },
) {
  const counter = checkout.provider === "counter";
  const notice = purchase.notice.value;
  const info = (
    <>
      <header class="sheet-head">
        <p class="sheet-kicker">
          {bayLabel(live, checkout.machine_id)} · {checkout.price.label}
        </p>
        <h1 id="sheet-title">{counter ? "Pay at the counter" : "Pay by card or phone"}</h1>
        <div class="amount-due">
          <span>To pay</span>
          <strong>{formatMoney(checkout.price.amount_cents, checkout.currency)}</strong>
        </div>
      </header>
      <div class="hold-banner" data-testid="hold">
        <span>Bay held for you for</span>
        <Countdown
          clock={live.clock}
          until={checkout.expires_at}
          maxMs={(live.status.value?.hold_s ?? 900) * 1000}
          class="hold-countdown"
        />
      </div>
    </>
  );
  const cancel = (
    <button
      type="button"
      class="btn btn--ghost"
      data-action="cancel"
      disabled={busy}
      onClick={() => void purchase.cancel()}
    >
      Cancel and release the bay
    </button>
  );
  if (counter) {
    return (
      <div class="pay-layout">
        <div class="pay-info">
          {info}
          <p class="sheet-lead">{checkout.instructions}</p>
          {notice && <p class="notice notice--error" role="alert">{notice}</p>}
          <div class="pay-cancel">{cancel}</div>
        </div>
        <Keypad
          value={purchase.code.value}
          onChange={(v) => {
            purchase.code.value = v;
            purchase.notice.value = null;
          }}
          onSubmit={() => void purchase.submitCode()}
          disabled={busy}
          submitLabel={busy ? "Starting your bay…" : "Confirm payment"}
        />
      </div>
    );
  }
  return (
    <>
      {info}
      <div class="pay-external">
        <p class="reference-label">Your reference</p>
        <p class="reference" data-testid="reference">{checkout.reference}</p>
        <p class="sheet-lead">{checkout.instructions}</p>
        {checkout.checkout_url && <p class="checkout-url">{checkout.checkout_url}</p>}
        {notice && <p class="notice notice--error" role="alert">{notice}</p>}
        <p class="waiting">
          <span class="spinner spinner--small" aria-hidden="true" />
          {busy ? "Payment received — starting your bay…" : "Waiting for your payment…"}
        </p>
      </div>
      <footer class="sheet-actions">{cancel}</footer>
    </>
  );
}

function DoneStep({ checkout, live, purchase }: SheetProps & { checkout: CheckoutView }) {
  const bay = live.bays.value.get(checkout.machine_id);
  return (
    <div class="sheet-center sheet-done">
      <div class="done-icon" aria-hidden="true">✓</div>
      <p class="sheet-kicker">{bayLabel(live, checkout.machine_id)} is yours</p>
      <h1 id="sheet-title">Enjoy your session!</h1>
      <div class="done-countdown" data-testid="done-countdown">
        {bay?.session
          ? <Countdown clock={live.clock} session={bay.session} class="big-countdown" />
          : <span class="big-countdown">{formatDuration(checkout.price.duration_s)}</span>}
        <span class="done-countdown-label">time left</span>
      </div>
      <p class="sheet-lead">Head to your bay — the balls are on their way.</p>
      <button
        type="button"
        class="btn btn--primary btn--wide"
        data-action="finish"
        onClick={() => purchase.reset()}
      >
        Done
      </button>
    </div>
  );
}
