/**
 * Pay at the counter: the customer pays staff, and a staff member enters their personal code on
 * the kiosk. Codes are configured as PBKDF2 hashes (`web.counter_codes`); the checkout service
 * limits wrong attempts per kiosk and per checkout.
 *
 * @module
 */
import { verifyPassword } from "../auth/password.ts";
import type { PaymentPresentation, PaymentProvider } from "./provider.ts";

export interface CounterCode {
  staff: string;
  hash: string;
}

export class CounterProvider implements PaymentProvider {
  readonly id = "counter";
  readonly label = "Pay at the counter";
  readonly confirmation = "staff_code" as const;
  readonly #codes: CounterCode[];

  constructor(codes: CounterCode[]) {
    if (codes.length === 0) throw new RangeError("CounterProvider needs at least one staff code");
    this.#codes = codes;
  }

  present(): PaymentPresentation {
    return {
      checkout_url: null,
      instructions: "Pay at the counter. A member of staff will then enter their code here.",
    };
  }

  /** Checks every configured hash (in parallel) and returns the matching staff name. */
  async verifyCode(code: string): Promise<string | null> {
    const trimmed = code.trim();
    if (trimmed.length === 0 || trimmed.length > 64) return null;
    const results = await Promise.all(this.#codes.map((c) => verifyPassword(trimmed, c.hash)));
    const i = results.indexOf(true);
    return i < 0 ? null : this.#codes[i].staff;
  }
}
