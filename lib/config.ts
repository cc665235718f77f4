/**
 * The hub's configuration file (JSON), validated with zod. Every section has defaults, so the
 * hub starts without a file. A bad file fails at start with the path, the field and the problem.
 *
 * @module
 */
import { z } from "zod";
import { MachineId, NodeId } from "../protocol/common.ts";

export const MachineConfig = z.object({
  id: MachineId,
  label: z.string().min(1).max(40).optional().describe("Shown to customers; default 'Bay {id}'"),
  floor: z.number().int().min(0).max(20).default(1),
  row: z.string().min(1).max(20).default("A").describe("Bays in one row are adjacent"),
});
export type MachineConfig = z.infer<typeof MachineConfig>;

function defaultMachines(): MachineConfig[] {
  const out: MachineConfig[] = [];
  for (let id = 1; id <= 24; id++) {
    out.push({ id, label: `Bay ${id}`, floor: id <= 12 ? 1 : 2, row: id <= 12 ? "A" : "B" });
  }
  return out;
}

export const HandlerConfig = z.object({
  ack_timeout_ms: z.number().int().min(50).max(60_000).default(1_500),
  ack_retries: z.number().int().min(0).max(10).default(2),
  duplicate_window_ms: z.number().int().min(0).max(3_600_000).default(10_000),
  default_keepalive_s: z.number().int().min(1).max(3600).default(10),
  staff_origins: z.array(NodeId).max(20).default(["admin"]).describe(
    "Nodes that may change any bay's session and use force",
  ),
  idempotency_ttl_ms: z.number().int().min(0).max(7 * 86_400_000).default(86_400_000).describe(
    "How long an idempotency_key is remembered (across restarts)",
  ),
  timer_timeout_ms: z.number().int().min(50).max(60_000).default(1_000).describe(
    "How long one timer/set_batch attempt waits for the timer's reply before it is retried",
  ),
  expiry_grace_ms: z.number().int().min(0).max(600_000).default(5_000).describe(
    "Backstop: a running session this long past its paid time is ended by the handler itself",
  ),
  time_zone: z.string().nullable().default(null).refine(
    (tz) => tz === null || validTimeZone(tz),
    "an IANA time zone such as Europe/Berlin",
  ).describe("For times in messages and daily reports; null = the system's"),
}).prefault({});

function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en-GB", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export const TimerConfig = z.object({
  warnings_s: z.array(z.number().int().positive()).max(10).default([300, 60]),
  expiry_attempt_timeout_ms: z.number().int().min(50).max(60_000).default(1_000).describe(
    "How long one timer/expired waits for the handler's reply before it is sent again",
  ),
  expiry_retry_max_ms: z.number().int().min(250).max(600_000).default(5_000).describe(
    "Longest pause between timer/expired retries (the backoff doubles from 250 ms)",
  ),
}).prefault({});

/** A PBKDF2 hash as `main.ts hash-password` prints it: `pbkdf2-sha256$iterations$salt$hash`. */
export const PasswordHash = z.string().regex(
  /^pbkdf2-sha256\$[0-9]{4,8}\$[A-Za-z0-9_-]{16,}\$[A-Za-z0-9_-]{43}$/,
  "a hash from 'main.ts hash-password' (pbkdf2-sha256$iterations$salt$hash)",
);

/** One entry of the price list the kiosk sells. */
export const PriceConfig = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, "lowercase letters, digits, '_' or '-'"),
  label: z.string().min(1).max(40),
  duration_s: z.number().int().min(60).max(12 * 3600),
  amount_cents: z.number().int().nonnegative().max(10_000_000),
});
export type PriceConfig = z.infer<typeof PriceConfig>;

/** Webhook event types the hub understands. */
export const WebhookEventType = z.enum(["payment.succeeded", "payment.failed", "session.activate"]);
export type WebhookEventType = z.infer<typeof WebhookEventType>;

export const WebConfig = z.object({
  kiosk_title: z.string().min(1).max(80).default("Driving range"),
  currency: z.string().regex(/^[A-Z]{3}$/, "ISO 4217 code, e.g. EUR").default("EUR"),
  prices: z.array(PriceConfig).min(1).max(50).default(() => [
    { id: "30min", label: "30 minutes", duration_s: 1800, amount_cents: 800 },
    { id: "60min", label: "60 minutes", duration_s: 3600, amount_cents: 1400 },
    { id: "90min", label: "90 minutes", duration_s: 5400, amount_cents: 1900 },
  ]).refine((ps) => new Set(ps.map((p) => p.id)).size === ps.length, {
    message: "price ids must be unique",
  }),
  hold_s: z.number().int().min(5).max(900).default(120).describe(
    "How long a bay is held while paying",
  ),
  admin_password_hash: PasswordHash.nullable().default(null).describe(
    "null: a random admin password is generated at each start and logged once",
  ),
  admin_session_ttl_s: z.number().int().min(60).max(7 * 86_400).default(8 * 3600),
  counter_codes: z.array(z.object({ staff: z.string().min(1).max(40), hash: PasswordHash }))
    .max(100).default([]).describe("Staff codes for pay-at-the-counter; [] = one generated code"),
  external_payments: z.object({
    webhook_source: NodeId.nullable().default(null).describe("null = external payments off"),
    checkout_url_template: z.string().max(500).nullable().default(null).describe(
      "Shown as a QR code; {reference} is replaced by the checkout reference",
    ),
  }).prefault({}),
  webhooks: z.record(
    NodeId,
    z.object({
      secret: z.string().min(32, "at least 32 characters of shared secret"),
      events: z.array(WebhookEventType).min(1),
    }),
  ).default({}),
  command_timeout_ms: z.number().int().min(100).max(60_000).default(5_000),
  sse_heartbeat_s: z.number().int().min(1).max(300).default(15),
}).prefault({}).refine(
  (w) =>
    w.external_payments.webhook_source === null ||
    w.webhooks[w.external_payments.webhook_source]?.events.includes("payment.succeeded"),
  {
    message: "external_payments.webhook_source must name a webhooks source that accepts " +
      "payment.succeeded",
    path: ["external_payments", "webhook_source"],
  },
);
export type WebConfig = z.infer<typeof WebConfig>;

export const HubConfig = z.object({
  hub_id: NodeId.default("hub"),
  data_dir: z.string().min(1).default("./data"),
  mqtt: z.object({
    url: z.string().url().nullable().default(null).describe("External broker; null = embedded"),
    broker_host: z.string().default("127.0.0.1"),
    broker_port: z.number().int().min(0).max(65535).default(1883),
  }).prefault({}),
  http: z.object({
    host: z.string().default("0.0.0.0"),
    port: z.number().int().min(0).max(65535).default(8080),
  }).prefault({}),
  machines: z.array(MachineConfig).min(1).max(10_000).default(defaultMachines)
    .refine((ms) => new Set(ms.map((m) => m.id)).size === ms.length, {
      message: "machine ids must be unique",
    }),
  handler: HandlerConfig,
  timer: TimerConfig,
  web: WebConfig,
});
export type HubConfig = z.infer<typeof HubConfig>;
export type HubConfigInput = z.input<typeof HubConfig>;

/** The configuration file is unreadable or invalid. */
export class ConfigError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConfigError";
  }
}

/** Validates a parsed config object; `source` names it in error messages. */
export function parseConfig(input: unknown, source = "config"): HubConfig {
  const parsed = HubConfig.safeParse(input);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) =>
      `  ${i.path.length ? i.path.join(".") : "(root)"}: ${i.message}`
    );
    throw new ConfigError(`Invalid configuration in ${source}:\n${lines.join("\n")}`, {
      cause: parsed.error,
    });
  }
  return parsed.data;
}

/** Reads and validates the config file at `path`; no path gives the defaults. */
export async function loadConfig(path?: string): Promise<HubConfig> {
  if (!path) return parseConfig({}, "defaults");
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw new ConfigError(`Cannot read configuration file ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(
      `Configuration file ${path} is not valid JSON: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  return parseConfig(json, path);
}

/** The label of a machine: its configured label or "Bay {id}". */
export function machineLabel(m: MachineConfig): string {
  return m.label ?? `Bay ${m.id}`;
}
