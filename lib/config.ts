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
}).prefault({});

export const TimerConfig = z.object({
  warnings_s: z.array(z.number().int().positive()).max(10).default([300, 60]),
}).prefault({});

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
