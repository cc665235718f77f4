/**
 * The payment provider interface. A provider decides what the kiosk shows while the customer
 * pays and how a payment is confirmed; the checkout service does the rest (hold, activation,
 * refunds), identical for every provider.
 *
 * @module
 */
import type { CheckoutRecord } from "../store.ts";

export interface PaymentPresentation {
  /** Where the customer pays (shown as a QR code), or null. */
  checkout_url: string | null;
  /** One sentence for the kiosk screen: what to do now. */
  instructions: string;
}

export interface PaymentProvider {
  /** Stable id used in requests (`provider` field) and in the checkout record. */
  readonly id: string;
  /** Shown on the kiosk's payment choice. */
  readonly label: string;
  /** How the payment is confirmed: a staff code on the kiosk, or a signed webhook. */
  readonly confirmation: "staff_code" | "webhook";
  present(checkout: CheckoutRecord): PaymentPresentation;
  /** For `staff_code` providers: the staff member whose code this is, or null. */
  verifyCode?(code: string): Promise<string | null>;
}
