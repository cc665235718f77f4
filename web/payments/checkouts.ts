/**
 * The kiosk purchase flow, the same for every payment provider:
 *
 * 1. `begin`: the kiosk picks a bay and a price; a `hold` command (origin `kiosk`) reserves the
 *    bay for `hold_s`. The machine handler refuses a second hold, so two customers can never buy
 *    the same bay.
 * 2. The customer pays; the provider confirms (staff code on the kiosk, or a signed webhook).
 * 3. `activate` with the `hold_id` converts the hold into the paid session.
 *
 * A hold that lapses before payment is clean: the checkout becomes `expired` and nothing is
 * activated afterwards. A payment that arrives late (or whose activation the handler refuses) is
 * never dropped: the checkout becomes `needs_refund` with a message for staff, shown in the
 * admin portal until resolved. Every checkout is persisted in web.db.
 *
 * @module
 */
import { type Clock, systemClock, type TimerHandle } from "../../lib/clock.ts";
import { RpcTimeoutError } from "../../lib/errors.ts";
import { createLogger, type Logger } from "../../lib/log.ts";
import type { FailureLimiter } from "../auth/failure_limiter.ts";
import type { EventBus } from "../event_bus.ts";
import type { HubLink } from "../hub_link.ts";
import { statusOfCode, toWebError, WebError } from "../http.ts";
import { bump } from "../metrics.ts";
import type { Settings } from "../settings.ts";
import type { CheckoutRecord, CheckoutState, WebStore } from "../store.ts";
import {
  type AdminCheckoutView,
  adminCheckoutView,
  type CheckoutView,
  checkoutView,
} from "../views.ts";
import { randomToken } from "../encoding.ts";
import type { PaymentProvider } from "./provider.ts";

export interface CheckoutsOptions {
  link: HubLink;
  store: WebStore;
  settings: Settings;
  providers: PaymentProvider[];
  /** Wrong staff codes, per kiosk and per checkout. */
  codeLimiter: FailureLimiter;
  currency: string;
  bus: EventBus;
  clock?: Clock;
  logger?: Logger;
  /** Attempts to send `activate` when the handler does not answer (same idempotency key). */
  activateAttempts?: number;
  /** Checkouts one client (kiosk) may have waiting for payment at once; default 2. */
  maxOpenPerClient?: number;
}

/** Result of a payment confirmation: the checkout, and an error when no bay was started. */
export interface CheckoutOutcome {
  checkout: CheckoutRecord;
  error?: WebError;
}

const terminal: ReadonlySet<CheckoutState> = new Set([
  "refused",
  "completed",
  "cancelled",
  "failed",
  "expired",
  "needs_refund",
  "refunded",
]);

const REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/** An 8-character reference customers can read out ("K7QF-2M9X"); no 0/O or 1/I. */
function newReference(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  const chars = [...bytes].map((b) => REFERENCE_ALPHABET[b % REFERENCE_ALPHABET.length]);
  return `${chars.slice(0, 4).join("")}-${chars.slice(4).join("")}`;
}

export class Checkouts {
  /** Checkout transitions by provider and state, for metrics. */
  readonly counts = new Map<string, number>();
  readonly #link: HubLink;
  readonly #store: WebStore;
  readonly #settings: Settings;
  readonly #providers = new Map<string, PaymentProvider>();
  readonly #limiter: FailureLimiter;
  readonly #currency: string;
  readonly #bus: EventBus;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #attempts: number;
  readonly #maxOpen: number;
  /** Checkouts waiting for payment, by the client that opened them (holding bays is scarce). */
  readonly #openByClient = new Map<string, Set<string>>();
  readonly #timers = new Map<string, TimerHandle>();
  readonly #locks = new Map<string, Promise<unknown>>();
  /** Paid checkouts whose activation was not confirmed: session_id -> checkout id. */
  readonly #unconfirmed = new Map<string, string>();
  #unsubscribe: (() => void) | null = null;

  constructor(options: CheckoutsOptions) {
    this.#link = options.link;
    this.#store = options.store;
    this.#settings = options.settings;
    for (const p of options.providers) this.#providers.set(p.id, p);
    this.#limiter = options.codeLimiter;
    this.#currency = options.currency;
    this.#bus = options.bus;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger ?? createLogger("checkouts");
    this.#attempts = options.activateAttempts ?? 3;
    if (this.#attempts < 1) throw new RangeError("activateAttempts must be at least 1");
    this.#maxOpen = options.maxOpenPerClient ?? 2;
    if (this.#maxOpen < 1) throw new RangeError("maxOpenPerClient must be at least 1");
  }

  /** Re-arms expiry timers of open checkouts and settles those a restart interrupted. */
  start(): void {
    this.#unsubscribe = this.#bus.subscribe((ev) => {
      if (ev.type !== "machine") return;
      const sid = ev.machine.session?.session_id;
      const id = sid ? this.#unconfirmed.get(sid) : undefined;
      if (id) void this.#serial(id, () => this.#confirmedLater(id));
    });
    for (
      const rec of this.#store.listCheckouts({
        states: ["holding", "pending", "paid"],
        limit: 10_000,
      })
    ) {
      if (rec.state === "pending") {
        this.#armExpiry(rec);
      } else if (rec.state === "holding") {
        this.#transition(
          rec,
          "expired",
          "The hub restarted while placing the hold; nothing was charged.",
        );
      } else {
        this.#unconfirmed.set(rec.session_id, rec.id);
        this.#transition(
          rec,
          "needs_refund",
          `The hub restarted while starting bay ${rec.machine_id} after payment. If the bay is ` +
            "not running this session, refund the customer.",
        );
      }
    }
  }

  stop(): void {
    this.#unsubscribe?.();
    for (const t of this.#timers.values()) this.#clock.clearTimeout(t);
    this.#timers.clear();
  }

  /** The providers customers can choose, in configured order. */
  providers(): PaymentProvider[] {
    return [...this.#providers.values()];
  }

  get(id: string): CheckoutRecord {
    const rec = this.#store.getCheckout(id);
    if (!rec) {
      throw new WebError(404, "not_found", `No checkout ${id}; start again at the bay list.`);
    }
    return rec;
  }

  view(rec: CheckoutRecord): CheckoutView {
    return checkoutView(rec, this.#present(rec));
  }

  adminView(rec: CheckoutRecord): AdminCheckoutView {
    return adminCheckoutView(rec, this.#present(rec));
  }

  /** Holds the bay and opens a checkout; throws WebError with the handler's reason on refusal. */
  async begin(
    input: { machine_id: number; price_id: string; provider: string },
    client = "local",
  ): Promise<CheckoutRecord> {
    const open = this.#openByClient.get(client) ?? new Set<string>();
    for (const id of open) {
      const state = this.#store.getCheckout(id)?.state;
      if (state !== "holding" && state !== "pending") open.delete(id);
    }
    if (open.size >= this.#maxOpen) {
      throw new WebError(
        429,
        "too_many_checkouts",
        "This kiosk already has a purchase waiting for payment. Finish or cancel it first.",
      );
    }
    const provider = this.#providers.get(input.provider);
    if (!provider) {
      const known = this.providers().map((p) => p.id).join(", ") || "none";
      throw new WebError(
        409,
        "provider_disabled",
        `Paying by '${input.provider}' is not available here (available: ${known}). Choose ` +
          "another way to pay or ask staff.",
      );
    }
    const settings = this.#settings.get();
    const price = settings.prices.find((p) => p.id === input.price_id);
    if (!price) {
      throw new WebError(
        400,
        "invalid_request",
        `Unknown price '${input.price_id}'; choose one of: ${
          settings.prices.map((p) => p.id).join(", ")
        }.`,
      );
    }
    const id = `chk_${randomToken(16)}`;
    const now = this.#clock.now();
    const rec: CheckoutRecord = {
      id,
      provider: provider.id,
      reference: newReference(),
      machine_id: input.machine_id,
      price_id: price.id,
      label: price.label,
      duration_s: price.duration_s,
      amount_cents: price.amount_cents,
      currency: this.#currency,
      hold_id: id,
      session_id: `ses_${id.slice(4)}`,
      state: "holding",
      message: null,
      created_at: now,
      expires_at: now + settings.hold_s * 1000,
      paid_at: null,
      paid_by: null,
      updated_at: now,
      resolved_note: null,
    };
    this.#store.insertCheckout(rec);
    open.add(id);
    this.#openByClient.set(client, open);
    for (const [k, ids] of this.#openByClient) if (ids.size === 0) this.#openByClient.delete(k);
    return await this.#serial(id, async () => {
      let res;
      try {
        res = await this.#link.command("kiosk", {
          action: "hold",
          machine_id: rec.machine_id,
          hold_id: rec.hold_id,
          hold_s: settings.hold_s,
          idempotency_key: `hold:${id}`,
        });
      } catch (err) {
        // Unknown whether the hold was placed: give it back (best effort; it lapses anyway).
        this.#release(rec);
        const e = toWebError(err);
        this.#transition(rec, "failed", e.message);
        throw e;
      }
      if (res.status === "error") {
        this.#transition(rec, "refused", res.error.message);
        throw new WebError(statusOfCode[res.error.code], res.error.code, res.error.message, {
          details: res.error.details,
        });
      }
      const expires_at = res.data.machine.hold?.hold_id === rec.hold_id
        ? res.data.machine.hold.expires_at
        : rec.expires_at;
      const next = this.#store.updateCheckout(
        id,
        { state: "pending", expires_at },
        this.#clock.now(),
      );
      bump(this.counts, next.provider, next.state);
      this.#armExpiry(next);
      this.#emit(next);
      return next;
    });
  }

  /** A staff code entered on the kiosk for checkout `id`, from kiosk `client`. */
  confirmCode(id: string, code: string, client: string): Promise<CheckoutOutcome> {
    return this.#serial(id, async () => {
      const rec = this.get(id);
      const provider = this.#providers.get(rec.provider);
      if (!provider?.verifyCode) {
        throw new WebError(
          409,
          "invalid_state",
          "This checkout is paid by card or phone, not with a staff code.",
        );
      }
      const keys = [`code:${client}`, `code-checkout:${id}`];
      for (const key of keys) {
        const gate = this.#limiter.check(key);
        if (!gate.allowed) throw lockedOut(gate.retryAfterMs);
      }
      if (rec.state !== "pending" && rec.state !== "expired" && rec.state !== "cancelled") {
        throw this.#notOpen(rec);
      }
      const staff = await provider.verifyCode(code);
      if (!staff) {
        let retry: number | null = null;
        for (const key of keys) {
          const d = this.#limiter.fail(key);
          if (!d.allowed) retry = Math.max(retry ?? 0, d.retryAfterMs);
        }
        if (retry !== null) throw lockedOut(retry);
        throw new WebError(
          401,
          "wrong_code",
          "That code is not right. Ask staff at the counter to enter their code again.",
        );
      }
      for (const key of keys) this.#limiter.succeed(key);
      return await this.#paid(rec, `staff:${staff}`, null);
    });
  }

  /** The external checkout with `reference`, or a 404 for the webhook's sender. */
  #externalByReference(reference: string) {
    const found = this.#store.getCheckoutByReference(reference);
    if (!found || found.provider !== "external") {
      throw new WebError(
        404,
        "unknown_reference",
        `No external checkout with reference ${reference}.`,
      );
    }
    return found;
  }

  /** `payment.succeeded` from the external provider's webhook. */
  confirmExternal(
    reference: string,
    payment: { amount_cents: number | null; payment_id: string | null },
  ): Promise<CheckoutOutcome> {
    const found = this.#externalByReference(reference);
    return this.#serial(found.id, () => {
      const rec = this.get(found.id);
      return this.#paid(
        rec,
        payment.payment_id ? `provider:${payment.payment_id}` : "provider",
        payment.amount_cents,
      );
    });
  }

  /** `payment.failed` from the external provider: give the bay back. */
  failExternal(reference: string, reason: string | null): Promise<CheckoutRecord> {
    const found = this.#externalByReference(reference);
    return this.#serial(found.id, () => {
      const rec = this.get(found.id);
      if (rec.state !== "pending") return Promise.resolve(rec);
      this.#release(rec);
      return Promise.resolve(
        this.#transition(
          rec,
          "failed",
          `The payment failed${reason ? `: ${reason}` : ""}. Try again or pay at the counter.`,
        ),
      );
    });
  }

  /** The customer gave up: release the hold. Cancelling twice is fine. */
  cancel(id: string): Promise<CheckoutRecord> {
    return this.#serial(id, () => {
      const rec = this.get(id);
      if (rec.state === "cancelled" || rec.state === "expired") return Promise.resolve(rec);
      if (rec.state !== "pending") throw this.#notOpen(rec);
      this.#release(rec);
      return Promise.resolve(
        this.#transition(rec, "cancelled", "Cancelled at the kiosk; nothing was charged."),
      );
    });
  }

  /** Staff settled a checkout that needed a refund. */
  resolve(id: string, note: string): Promise<CheckoutRecord> {
    return this.#serial(id, () => {
      const rec = this.get(id);
      if (rec.state !== "needs_refund") {
        throw new WebError(
          409,
          "invalid_state",
          `Checkout ${id} is ${rec.state}; only needs_refund can be resolved.`,
        );
      }
      this.#unconfirmed.delete(rec.session_id);
      const next = this.#store.updateCheckout(
        id,
        { state: "refunded", resolved_note: note },
        this.#clock.now(),
      );
      bump(this.counts, next.provider, next.state);
      this.#emit(next);
      return Promise.resolve(next);
    });
  }

  // -- internals ------------------------------------------------------------------------------

  async #paid(
    rec: CheckoutRecord,
    paidBy: string,
    amountCents: number | null,
  ): Promise<CheckoutOutcome> {
    if (
      rec.state === "completed" || rec.state === "needs_refund" || rec.state === "refunded" ||
      rec.state === "paid"
    ) {
      return { checkout: rec };
    }
    const now = this.#clock.now();
    const late = rec.state !== "pending" || now >= rec.expires_at;
    if (late) {
      this.#clearExpiry(rec.id);
      const why = rec.state === "pending" || rec.state === "expired"
        ? "the hold had lapsed"
        : `the checkout was already ${rec.state}`;
      const next = this.#transition(
        { ...rec, paid_at: now, paid_by: paidBy },
        "needs_refund",
        `Payment ${rec.reference} arrived after ${why}; no bay was started. Staff: refund the ` +
          `customer (or start bay ${rec.machine_id} from the admin portal).`,
        { paid_at: now, paid_by: paidBy },
      );
      return {
        checkout: next,
        error: new WebError(
          409,
          "conflict",
          `Your hold on bay ${rec.machine_id} ran out before the payment arrived, so the bay was ` +
            `not started. Show reference ${rec.reference} to staff for a refund.`,
        ),
      };
    }
    if (amountCents !== null && amountCents !== rec.amount_cents) {
      this.#clearExpiry(rec.id);
      this.#release(rec);
      const next = this.#transition(
        rec,
        "needs_refund",
        `Payment ${rec.reference} was ${amountCents} cents but the price is ${rec.amount_cents}; ` +
          "no bay was started. Staff: refund the customer.",
        { paid_at: now, paid_by: paidBy },
      );
      return {
        checkout: next,
        error: new WebError(
          409,
          "conflict",
          `The amount paid does not match the price. Show reference ${rec.reference} to staff.`,
        ),
      };
    }
    const paid = this.#transition(rec, "paid", null, { paid_at: now, paid_by: paidBy });
    this.#clearExpiry(rec.id);
    for (let attempt = 1;; attempt++) {
      try {
        const res = await this.#link.command("kiosk", {
          action: "activate",
          machine_id: rec.machine_id,
          duration_s: rec.duration_s,
          amount_cents: rec.amount_cents,
          hold_id: rec.hold_id,
          session_id: rec.session_id,
          idempotency_key: `activate:${rec.id}`,
        });
        if (res.status === "ok") return { checkout: this.#transition(paid, "completed", null) };
        const next = this.#transition(
          paid,
          "needs_refund",
          `Paid, but bay ${rec.machine_id} could not be started: ${res.error.message} Staff: ` +
            "refund the customer or start the bay from the admin portal.",
        );
        return {
          checkout: next,
          error: new WebError(
            statusOfCode[res.error.code],
            res.error.code,
            `Your payment was received but bay ${rec.machine_id} could not be started ` +
              `(${res.error.message}). Show reference ${rec.reference} to staff.`,
            { details: res.error.details },
          ),
        };
      } catch (err) {
        if (err instanceof RpcTimeoutError && attempt < this.#attempts) {
          this.#log.warn("activate not answered; retrying with the same idempotency key", {
            checkout: rec.id,
            attempt,
          });
          continue;
        }
        const e = toWebError(err);
        this.#unconfirmed.set(rec.session_id, rec.id);
        const next = this.#transition(
          paid,
          "needs_refund",
          `Paid, but the hub could not confirm that bay ${rec.machine_id} started (${e.message}). ` +
            "Staff: check the bay; if it is not running this session, refund the customer.",
        );
        return {
          checkout: next,
          error: new WebError(
            e.status,
            e.code,
            `Your payment was received but the bay did not confirm yet. Show reference ${rec.reference} to staff.`,
          ),
        };
      }
    }
  }

  /** A bay reported the session of an unconfirmed paid checkout: it did start. */
  #confirmedLater(id: string): Promise<void> {
    const rec = this.#store.getCheckout(id);
    if (rec) this.#unconfirmed.delete(rec.session_id);
    if (rec && rec.state === "needs_refund") {
      this.#transition(rec, "completed", "Bay start confirmed after a delay; no refund needed.");
    }
    return Promise.resolve();
  }

  #release(rec: CheckoutRecord): void {
    this.#link.command("kiosk", {
      action: "release",
      machine_id: rec.machine_id,
      hold_id: rec.hold_id,
      idempotency_key: `release:${rec.id}`,
    }).then((res) => {
      if (res.status === "error") {
        this.#log.info("release refused (hold already gone?)", {
          checkout: rec.id,
          error: res.error.message,
        });
      }
    }, (err) => {
      this.#log.warn("release not answered; the hold lapses by itself", {
        checkout: rec.id,
        error: (err as Error).message,
      });
    });
  }

  #armExpiry(rec: CheckoutRecord): void {
    this.#clearExpiry(rec.id);
    const delay = Math.max(0, rec.expires_at - this.#clock.now());
    this.#timers.set(
      rec.id,
      this.#clock.setTimeout(() => {
        this.#timers.delete(rec.id);
        void this.#serial(rec.id, () => {
          const cur = this.#store.getCheckout(rec.id);
          if (cur?.state === "pending") {
            this.#transition(
              cur,
              "expired",
              `The hold on bay ${cur.machine_id} lapsed before payment arrived; nothing was charged.`,
            );
          }
          return Promise.resolve();
        });
      }, delay),
    );
  }

  #clearExpiry(id: string): void {
    const t = this.#timers.get(id);
    if (t !== undefined) this.#clock.clearTimeout(t);
    this.#timers.delete(id);
  }

  #transition(
    rec: CheckoutRecord,
    state: CheckoutState,
    message: string | null,
    extra: Partial<Pick<CheckoutRecord, "paid_at" | "paid_by">> = {},
  ): CheckoutRecord {
    if (terminal.has(state)) this.#clearExpiry(rec.id);
    const next = this.#store.updateCheckout(
      rec.id,
      { state, message, ...extra },
      this.#clock.now(),
    );
    bump(this.counts, next.provider, state);
    if (state === "needs_refund") {
      this.#log.warn("checkout needs staff", { checkout: rec.id, message });
    }
    this.#emit(next);
    return next;
  }

  #emit(rec: CheckoutRecord): void {
    this.#bus.publish({ type: "checkout", checkout: this.view(rec) });
  }

  #present(rec: CheckoutRecord) {
    const p = this.#providers.get(rec.provider);
    return p?.present(rec) ?? { checkout_url: null, instructions: "Ask staff for help." };
  }

  #notOpen(rec: CheckoutRecord): WebError {
    const what: Record<CheckoutState, string> = {
      holding: "still reserving the bay; wait a moment",
      pending: "waiting for payment",
      refused: "was refused; pick another bay",
      paid: "paid and starting the bay",
      completed: "already paid; the bay is running",
      cancelled: "cancelled; start again",
      failed: "failed; start again",
      expired: "expired because the hold ran out; start again",
      needs_refund: "waiting for staff; show the reference at the counter",
      refunded: "refunded",
    };
    return new WebError(409, "invalid_state", `This checkout is ${what[rec.state]}.`, {
      details: { state: rec.state },
    });
  }

  /** Runs `fn` after every earlier operation on the same checkout has finished. */
  #serial<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(id) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => {});
    this.#locks.set(id, tail);
    tail.then(() => {
      if (this.#locks.get(id) === tail) this.#locks.delete(id);
    });
    return run;
  }
}

function lockedOut(retryAfterMs: number): WebError {
  const s = Math.ceil(retryAfterMs / 1000);
  return new WebError(
    429,
    "locked_out",
    `Too many wrong codes. Wait ${s} seconds, then ask staff to enter their code again.`,
    { headers: { "Retry-After": String(s) } },
  );
}
