/**
 * Bodies of webhook deliveries (`POST /webhooks/{source}`), validated with zod. Every event has
 * an `id` chosen by the sender (unique per source; a repeated id is a replay) and a `type`.
 *
 * @module
 */
import { z } from "zod";
import { MachineId } from "../../protocol/common.ts";
import { SessionId } from "../../protocol/machine.ts";

const EventId = z.string().min(1).max(128).regex(
  /^[A-Za-z0-9._:-]+$/,
  "letters, digits, '.', '_', ':' or '-'",
);

/** The external provider took the money for a kiosk checkout. */
export const PaymentSucceededEvent = z.object({
  id: EventId,
  type: z.literal("payment.succeeded"),
  data: z.object({
    reference: z.string().min(1).max(64).describe("The checkout reference the kiosk showed"),
    amount_cents: z.number().int().nonnegative().optional().describe(
      "Checked against the price when present",
    ),
    payment_id: z.string().min(1).max(128).optional().describe("The provider's own id"),
  }),
});

/** The customer's payment failed or was abandoned: the hold is released. */
export const PaymentFailedEvent = z.object({
  id: EventId,
  type: z.literal("payment.failed"),
  data: z.object({
    reference: z.string().min(1).max(64),
    reason: z.string().max(200).optional(),
  }),
});

/** A third-party service (booking system, loyalty app) starts a bay; origin `webhook`. */
export const SessionActivateEvent = z.object({
  id: EventId,
  type: z.literal("session.activate"),
  data: z.object({
    machine_id: MachineId,
    duration_s: z.number().int().min(60).max(12 * 3600),
    amount_cents: z.number().int().nonnegative().optional(),
    session_id: SessionId.optional(),
    group_id: z.string().min(1).max(128).optional(),
  }),
});

export const WebhookEvent = z.discriminatedUnion("type", [
  PaymentSucceededEvent,
  PaymentFailedEvent,
  SessionActivateEvent,
]);
export type WebhookEvent = z.infer<typeof WebhookEvent>;
