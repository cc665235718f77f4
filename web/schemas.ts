/**
 * Bodies and query strings of the HTTP API, validated with zod. Command bodies reuse the
 * protocol's command schemas (without the envelope and the machine id, which come from the
 * route), so the HTTP API and the MQTT contract cannot drift apart.
 *
 * @module
 */
import { z } from "zod";
import { MachineId, NodeId } from "../protocol/common.ts";
import {
  ActivateCommand,
  CommandAction,
  DeactivateCommand,
  ExtendCommand,
  MaintenanceOffCommand,
  MaintenanceOnCommand,
  PauseCommand,
  ReleaseCommand,
  ResumeCommand,
} from "../protocol/command.ts";
import { PriceConfig } from "../lib/config.ts";
import { checkoutStates } from "./store.ts";

const fromRoute = { correlation_id: true, origin: true, sent_at: true, machine_id: true } as const;

/** `POST /api/admin/machines/{id}/commands`: every action an admin can take, `force` included. */
export const AdminCommandBody = z.discriminatedUnion("action", [
  ActivateCommand.omit(fromRoute),
  DeactivateCommand.omit(fromRoute),
  ExtendCommand.omit(fromRoute),
  PauseCommand.omit(fromRoute),
  ResumeCommand.omit(fromRoute),
  MaintenanceOnCommand.omit(fromRoute),
  MaintenanceOffCommand.omit(fromRoute),
  ReleaseCommand.omit(fromRoute),
]);
export type AdminCommandBody = z.infer<typeof AdminCommandBody>;

/** `POST /api/kiosk/checkouts`: start buying `price_id` on bay `machine_id`. */
export const CheckoutBody = z.object({
  machine_id: MachineId,
  price_id: z.string().min(1).max(32),
  provider: z.string().min(1).max(32).describe("counter or external"),
});

/** `POST /api/kiosk/checkouts/{id}/code`: the staff code for pay-at-the-counter. */
export const CounterCodeBody = z.object({
  code: z.string().min(1, "enter the staff code").max(64),
});

/** `POST /api/admin/login`. */
export const LoginBody = z.object({ password: z.string().min(1, "enter the password").max(256) });

/** `PUT /api/admin/settings`: any subset. */
export const SettingsBody = z.object({
  kiosk_title: z.string().min(1).max(80).optional(),
  hold_s: z.number().int().min(5).max(900).optional(),
  prices: z.array(PriceConfig).min(1).max(50)
    .refine((ps) => new Set(ps.map((p) => p.id)).size === ps.length, {
      message: "price ids must be unique",
    }).optional(),
}).refine((b) => Object.keys(b).length > 0, { message: "nothing to change" });

/** `POST /api/admin/checkouts/{id}/resolve`. */
export const ResolveBody = z.object({
  note: z.string().min(1, "say how it was settled, e.g. 'refunded in cash'").max(500),
});

const Day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "a date as YYYY-MM-DD").refine(
  (d) => !Number.isNaN(Date.parse(`${d}T00:00:00Z`)),
  "not a real date",
);

/** `GET /api/admin/reports/usage.csv?from=YYYY-MM-DD&to=YYYY-MM-DD` (both days included). */
export const UsageQuery = z.object({ from: Day, to: Day }).refine((q) => q.from <= q.to, {
  message: "from must not be after to",
  path: ["from"],
});

const Millis = z.coerce.number().int().nonnegative();

/** `GET /api/admin/ledger`: filters, all optional. */
export const LedgerQuery = z.object({
  machine: z.coerce.number().pipe(MachineId).optional(),
  origin: NodeId.optional(),
  action: z.string().min(1).max(32).optional(),
  outcome: z.string().min(1).max(32).optional(),
  from: Millis.optional().describe("epoch ms, inclusive"),
  to: Millis.optional().describe("epoch ms, exclusive"),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

/** `GET /api/admin/checkouts?state=needs_refund,pending&limit=50`. */
export const CheckoutsQuery = z.object({
  state: z.string().optional().transform((s, ctx) => {
    if (!s) return undefined;
    const parts = s.split(",").map((p) => p.trim()).filter(Boolean);
    const bad = parts.filter((p) => !(checkoutStates as readonly string[]).includes(p));
    if (bad.length) {
      ctx.addIssue({
        code: "custom",
        message: `unknown state ${bad.join(", ")}; use ${checkoutStates.join(", ")}`,
      });
      return z.NEVER;
    }
    return parts as typeof checkoutStates[number][];
  }),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export { CommandAction };
