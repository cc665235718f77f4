/**
 * An external payment provider (card terminal, phone payment page) that confirms through the
 * signed webhook: the kiosk shows the checkout reference (and, if configured, a payment URL with
 * the reference in it); the provider later posts `payment.succeeded` or `payment.failed` with
 * that reference to `POST /webhooks/{source}`.
 *
 * @module
 */
import type { CheckoutRecord } from "../store.ts";
import type { PaymentPresentation, PaymentProvider } from "./provider.ts";

export interface ExternalProviderOptions {
  /** The webhook source allowed to confirm these payments. */
  source: string;
  /** e.g. `https://pay.example.com/c/{reference}`; null = show the reference only. */
  checkoutUrlTemplate: string | null;
}

export class ExternalProvider implements PaymentProvider {
  readonly id = "external";
  readonly label = "Card or phone";
  readonly confirmation = "webhook" as const;
  readonly source: string;
  readonly #template: string | null;

  constructor(options: ExternalProviderOptions) {
    this.source = options.source;
    this.#template = options.checkoutUrlTemplate;
  }

  present(checkout: CheckoutRecord): PaymentPresentation {
    const url = this.#template?.replaceAll("{reference}", encodeURIComponent(checkout.reference)) ??
      null;
    return {
      checkout_url: url,
      instructions: url
        ? "Scan the code with your phone, or pay at the terminal with reference " +
          `${checkout.reference}. The bay starts as soon as the payment is confirmed.`
        : `Pay at the terminal with reference ${checkout.reference}. The bay starts as soon as ` +
          "the payment is confirmed.",
    };
  }
}
