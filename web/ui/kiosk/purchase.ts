/**
 * The kiosk's purchase flow as a small state machine in signals, separate from the screens so
 * it is tested without a browser:
 *
 *   idle -> price (bay picked) -> method (if several ways to pay) -> holding -> pay ->
 *   confirming (staff code sent) -> done
 *
 * Any step can end in `problem`, whose text says what happened and what to do next. Leaving the
 * pay step (Cancel, or the hold running out) releases the hold.
 *
 * @module
 */
import { batch, signal } from "@preact/signals";
import type { PriceConfig } from "../../../lib/config.ts";
import type { BayView, CheckoutView, PaymentProviderView } from "../../views.ts";
import { ApiError } from "../api_client.ts";
import type { LiveStore } from "../live_store.ts";
import type { KioskApi } from "./kiosk_api.ts";

export type Step =
  | { kind: "idle" }
  | { kind: "price"; bayId: number }
  | { kind: "method"; bayId: number; price: PriceConfig }
  | { kind: "holding"; bayId: number; price: PriceConfig; provider: string }
  | { kind: "pay"; checkout: CheckoutView }
  | { kind: "confirming"; checkout: CheckoutView }
  | { kind: "done"; checkout: CheckoutView }
  | {
    kind: "problem";
    title: string;
    message: string;
    checkout?: CheckoutView;
  };

export interface PurchaseOptions {
  api: KioskApi;
  live: LiveStore;
  /** A picked-but-unpaid selection (no hold yet) is dropped after this much inactivity. */
  idleMs?: number;
  /** The success and problem screens return to the bays after this long. */
  doneMs?: number;
  /** While paying externally, the checkout is re-read this often (in case an event is missed). */
  pollMs?: number;
}

/** What the customer reads when a bay cannot be held, by the hub's error code. */
export function holdRefusal(err: unknown): { title: string; message: string } {
  const code = err instanceof ApiError ? err.code : "";
  switch (code) {
    case "conflict":
    case "stale_session":
      return {
        title: "Sorry, someone was quicker",
        message: "This bay was just taken — please pick another bay.",
      };
    case "in_maintenance":
    case "machine_offline":
    case "machine_error":
    case "device_timeout":
    case "unknown_machine":
      return {
        title: "Sorry, this bay can't be used",
        message: "This bay is out of order right now — please pick another bay.",
      };
    default:
      return {
        title: "We could not reserve this bay",
        message: err instanceof Error
          ? `${err.message}`
          : "Something went wrong. Please pick a bay again, or ask staff.",
      };
  }
}

export class Purchase {
  readonly step = signal<Step>({ kind: "idle" });
  /** The code typed on the keypad. */
  readonly code = signal("");
  /** A message shown inside the current step (e.g. a wrong code), or null. */
  readonly notice = signal<string | null>(null);
  readonly #api: KioskApi;
  readonly #live: LiveStore;
  readonly #idleMs: number;
  readonly #doneMs: number;
  readonly #pollMs: number;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #poll: ReturnType<typeof setInterval> | null = null;
  #unsubs: Array<() => void> = [];
  #expiryCheck: string | null = null;

  constructor(options: PurchaseOptions) {
    this.#api = options.api;
    this.#live = options.live;
    this.#idleMs = options.idleMs ?? 60_000;
    this.#doneMs = options.doneMs ?? 20_000;
    this.#pollMs = options.pollMs ?? 4_000;
  }

  /** Follows checkout events and bay changes; call once. */
  start(): void {
    this.#unsubs.push(this.#live.onCheckout((c) => this.#onCheckout(c)));
    this.#unsubs.push(this.#live.bays.subscribe((bays) => this.#onBays(bays)));
    this.#unsubs.push(this.#live.clock.tick.subscribe((now) => this.#onTick(now)));
  }

  stop(): void {
    for (const u of this.#unsubs) u();
    this.#unsubs = [];
    this.#clearTimers();
  }

  /** The payment choices of the current snapshot. */
  providers(): PaymentProviderView[] {
    return this.#live.status.value?.payment_providers ?? [];
  }

  pickBay(bay: BayView): void {
    const s = this.step.peek();
    if (s.kind === "pay" || s.kind === "confirming" || s.kind === "holding") return;
    this.#go({ kind: "price", bayId: bay.machine_id });
    this.#armIdle();
  }

  pickPrice(price: PriceConfig): void {
    const s = this.step.peek();
    if (s.kind !== "price" && s.kind !== "method") return;
    const providers = this.providers();
    if (providers.length === 1) {
      void this.pay(s.bayId, price, providers[0].id);
      return;
    }
    this.#go({ kind: "method", bayId: s.bayId, price });
    this.#armIdle();
  }

  /** Back from the method choice to the price list. */
  backToPrices(): void {
    const s = this.step.peek();
    if (s.kind === "method") {
      this.#go({ kind: "price", bayId: s.bayId });
      this.#armIdle();
    }
  }

  /** Holds the bay and opens the checkout. */
  async pay(bayId: number, price: PriceConfig, provider: string): Promise<void> {
    const s = this.step.peek();
    if (s.kind !== "price" && s.kind !== "method") return;
    this.#go({ kind: "holding", bayId, price, provider });
    let checkout: CheckoutView;
    try {
      checkout = await this.#api.begin({ machine_id: bayId, price_id: price.id, provider });
    } catch (err) {
      if (this.step.peek().kind !== "holding") return;
      const r = holdRefusal(err);
      this.#go({ kind: "problem", title: r.title, message: r.message });
      return;
    }
    if (this.step.peek().kind !== "holding") {
      // The customer left meanwhile: give the bay back.
      void this.#api.cancel(checkout.id).catch(() => {});
      return;
    }
    this.#go({ kind: "pay", checkout });
    if (checkout.provider !== "counter") this.#startPolling(checkout.id);
  }

  /** Sends the staff code typed on the keypad. */
  async submitCode(): Promise<void> {
    const s = this.step.peek();
    if (s.kind !== "pay" || this.code.peek() === "") return;
    const code = this.code.peek();
    this.#go({ kind: "confirming", checkout: s.checkout });
    let result: CheckoutView;
    try {
      result = await this.#api.submitCode(s.checkout.id, code);
    } catch (err) {
      if (this.step.peek().kind !== "confirming") return;
      this.code.value = "";
      const e = err instanceof ApiError ? err : null;
      if (e && (e.code === "wrong_code" || e.code === "locked_out")) {
        this.step.value = { kind: "pay", checkout: s.checkout };
        this.notice.value = e.message;
        return;
      }
      if (e?.code === "network" || e?.code === "timeout" || e?.code === "unavailable") {
        this.step.value = { kind: "pay", checkout: s.checkout };
        this.notice.value = e.message;
        return;
      }
      this.#go({
        kind: "problem",
        title: "The bay did not start",
        message: err instanceof Error ? err.message : String(err),
        checkout: s.checkout,
      });
      return;
    }
    this.code.value = "";
    this.#settle(result);
  }

  /** Cancel: releases the hold (if any) and returns to the bays. */
  async cancel(): Promise<void> {
    const s = this.step.peek();
    const checkout = s.kind === "pay" ? s.checkout : null;
    this.reset();
    if (checkout) {
      try {
        await this.#api.cancel(checkout.id);
      } catch {
        // The hold lapses by itself; the customer is already back at the bays.
      }
    }
  }

  /** The problem screen's button: back to the bays. */
  acknowledge(): void {
    this.reset();
  }

  /** Back to the bays, forgetting everything. */
  reset(): void {
    this.#go({ kind: "idle" });
  }

  #go(next: Step): void {
    this.#clearTimers();
    batch(() => {
      this.step.value = next;
      this.notice.value = null;
      if (next.kind !== "confirming") this.code.value = next.kind === "pay" ? this.code.peek() : "";
    });
    // A customer who walks away leaves the kiosk ready for the next one.
    if (next.kind === "done" || next.kind === "problem") {
      this.#timer = setTimeout(() => this.reset(), this.#doneMs);
    }
  }

  #armIdle(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.reset(), this.#idleMs);
  }

  /** Any touch on a selection screen keeps it open. */
  touched(): void {
    const k = this.step.peek().kind;
    if (k === "price" || k === "method") this.#armIdle();
  }

  #clearTimers(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#poll !== null) clearInterval(this.#poll);
    this.#poll = null;
  }

  #startPolling(id: string): void {
    this.#poll = setInterval(() => {
      this.#api.get(id).then((c) => this.#onCheckout(c), () => {});
    }, this.#pollMs);
  }

  /** A checkout's state changed (event, poll or answer). */
  #onCheckout(c: CheckoutView): void {
    const s = this.step.peek();
    if ((s.kind !== "pay" && s.kind !== "confirming") || s.checkout.id !== c.id) return;
    if (c.state === "pending" || c.state === "holding") return;
    if (c.state === "paid") {
      // Payment arrived; the bay is being started. Stay on this step until it completes.
      if (s.kind === "pay") this.step.value = { kind: "confirming", checkout: c };
      return;
    }
    this.#settle(c);
  }

  #settle(c: CheckoutView): void {
    switch (c.state) {
      case "completed":
        this.#go({ kind: "done", checkout: c });
        return;
      case "paid":
      case "pending":
      case "holding":
        this.#go({ kind: "confirming", checkout: c });
        return;
      case "expired":
        this.#go({
          kind: "problem",
          title: "Time ran out",
          message: "The time to pay ran out and the bay was released. Nothing was charged. " +
            "Please pick a bay again.",
        });
        return;
      case "cancelled":
        this.reset();
        return;
      case "failed":
      case "refused":
        this.#go({
          kind: "problem",
          title: "Payment did not go through",
          message: c.message ?? "The payment did not go through. Please pick a bay again.",
        });
        return;
      case "needs_refund":
      case "refunded":
        this.#go({
          kind: "problem",
          title: "Please see staff",
          message: "Your payment was received but the bay was not started. Show reference " +
            `${c.reference} at the counter and staff will sort it out.`,
          checkout: c,
        });
        return;
    }
  }

  /** While choosing, a bay that is no longer free is announced; a lapsed hold ends paying. */
  #onBays(bays: ReadonlyMap<number, BayView>): void {
    const s = this.step.peek();
    if (s.kind !== "price" && s.kind !== "method") return;
    const bay = bays.get(s.bayId);
    if (!bay || (bay.status === "available" && bay.online)) return;
    const takenStatuses = ["active", "paused", "reserved"];
    const r = takenStatuses.includes(bay.status)
      ? holdRefusal(new ApiError(409, "conflict", ""))
      : holdRefusal(new ApiError(409, "in_maintenance", ""));
    this.#go({ kind: "problem", title: r.title, message: r.message });
  }

  #onTick(now: number): void {
    const s = this.step.peek();
    if (s.kind !== "pay" || now < s.checkout.expires_at) return;
    // The server expires the hold at the same moment; ask it for the final word (once).
    const id = s.checkout.id;
    if (this.#expiryCheck === id) return;
    this.#expiryCheck = id;
    this.#api.get(id).finally(() => {
      if (this.#expiryCheck === id) this.#expiryCheck = null;
    }).then((c) => {
      const cur = this.step.peek();
      if (cur.kind !== "pay" || cur.checkout.id !== id) return;
      if (c.state === "pending" && c.expires_at > this.#live.clock.now()) {
        this.step.value = { kind: "pay", checkout: c };
        return;
      }
      this.#settle(c.state === "pending" ? { ...c, state: "expired" } : c);
    }, () => {
      const cur = this.step.peek();
      if (cur.kind === "pay" && cur.checkout.id === id) {
        this.#settle({ ...s.checkout, state: "expired" });
      }
    });
  }
}
