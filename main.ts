/**
 * dispenser-hub command line.
 *
 *   main.ts serve [--config FILE] [--data-dir DIR] [--mqtt-url URL] [--broker-port N]
 *                 [--http-port N] [--simulate N]
 *   main.ts simulate --mqtt-url URL --machines N [--first-id N] [--keepalive-s N]
 *                    [--drain-per-minute X]
 *
 * JSR is unreachable where this is built, so flags are parsed with `node:util` parseArgs.
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { ConfigError, type HubConfig, loadConfig } from "./lib/config.ts";
import { startHub } from "./lib/hub.ts";
import { createLogger, type Logger } from "./lib/log.ts";
import { startFleet } from "./sim/fleet.ts";
import { hashPasswordCommand } from "./web/auth/hash_password_cli.ts";

/** Bad command-line usage: reported with exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

const MAIN_HELP = `dispenser-hub: runs a driving range's in-bay ball dispensers.

Usage: dispenser-hub <command> [options]

Commands:
  serve      Run the hub: MQTT broker (embedded unless --mqtt-url), actors, web server
  simulate   Run simulated dispensers (ESP32 stand-ins) against a broker
  hash-password  Hash an admin password or staff counter code (read from stdin) for the config
  help       Show this help

Run 'dispenser-hub <command> --help' for a command's options.
`;

const SERVE_HELP = `Usage: dispenser-hub serve [options]

Runs the hub. With no --mqtt-url an embedded MQTT broker is started on 127.0.0.1.

Options:
  --config FILE       JSON configuration file (default: built-in defaults)
  --data-dir DIR      Where state and ledger are kept (default: ./data)
  --mqtt-url URL      External broker, e.g. mqtt://192.168.4.1:1883 (default: embedded)
  --broker-port N     Port of the embedded broker (default: 1883)
  --http-port N       HTTP port of kiosk, admin and API (default: 8080)
  --http-host HOST    HTTP bind address (default: 0.0.0.0)
  --simulate N        Also run simulated dispensers for the first N configured bays
  -h, --help          Show this help
`;

const SIMULATE_HELP = `Usage: dispenser-hub simulate --mqtt-url URL --machines N [options]

Runs N simulated dispensers, each with its own MQTT connection, as ESP32 firmware would
(docs/firmware.md). Steer one with JSON on sim/{id}/control, e.g. {"jam":true} or
{"command":"offline"}. Runs until SIGINT or SIGTERM.

Options:
  --mqtt-url URL          Broker, e.g. mqtt://127.0.0.1:1883 (required)
  --machines N            How many dispensers, 1..10000 (required)
  --first-id N            Id of the first dispenser; the others follow (default: 1)
  --keepalive-s N         Heartbeat interval in seconds, 1..3600 (default: 10)
  --drain-per-minute X    Percent of a full hopper used per minute of dispensing (default: 2)
  -h, --help              Show this help
`;

function parse(args: string[], options: ParseArgsConfig["options"], help: string) {
  try {
    const { values, positionals } = parseArgs({
      args,
      options: { ...options, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    });
    if (positionals.length > 0) {
      throw new UsageError(`Unexpected argument: ${positionals[0]}\n\n${help}`);
    }
    return values as Record<string, string | boolean | undefined>;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`${(err as Error).message}\n\n${help}`);
  }
}

function portFlag(value: string | boolean | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== "string" || !/^\d+$/.test(value) || n > 65535) {
    throw new UsageError(`${flag} must be a port number 0..65535, got ${JSON.stringify(value)}`);
  }
  return n;
}

function intFlag(
  value: string | boolean | undefined,
  flag: string,
  min: number,
  max: number,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== "string" || !/^\d+$/.test(value) || n < min || n > max) {
    throw new UsageError(`${flag} must be an integer ${min}..${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}

async function simulate(args: string[]): Promise<number> {
  const v = parse(args, {
    "mqtt-url": { type: "string" },
    machines: { type: "string" },
    "first-id": { type: "string" },
    "keepalive-s": { type: "string" },
    "drain-per-minute": { type: "string" },
  }, SIMULATE_HELP);
  if (v.help) {
    console.log(SIMULATE_HELP);
    return 0;
  }
  const url = v["mqtt-url"];
  if (url === undefined) throw new UsageError(`--mqtt-url is required\n\n${SIMULATE_HELP}`);
  if (!URL.canParse(String(url))) {
    throw new UsageError(`--mqtt-url is not a URL: ${JSON.stringify(url)}`);
  }
  const machines = intFlag(v.machines, "--machines", 1, 10_000);
  if (machines === undefined) throw new UsageError(`--machines is required\n\n${SIMULATE_HELP}`);
  const firstId = intFlag(v["first-id"], "--first-id", 1, 99_999) ?? 1;
  if (firstId + machines - 1 > 99_999) {
    throw new UsageError(`--first-id ${firstId} with --machines ${machines} passes id 99999`);
  }
  const keepaliveS = intFlag(v["keepalive-s"], "--keepalive-s", 1, 3600) ?? 10;
  const drainFlag = v["drain-per-minute"];
  let drainPerMinute: number | undefined;
  if (drainFlag !== undefined) {
    drainPerMinute = Number(drainFlag);
    if (
      typeof drainFlag !== "string" || drainFlag.trim() === "" ||
      !(drainPerMinute >= 0 && drainPerMinute <= 100)
    ) {
      throw new UsageError(
        `--drain-per-minute must be a number 0..100 (percent per minute), got ${
          JSON.stringify(drainFlag)
        }`,
      );
    }
  }

  const log = createLogger("sim");
  const ids = Array.from({ length: machines }, (_, i) => firstId + i);
  return await untilSignal(
    () =>
      startFleet({
        mqttUrl: String(url),
        ids,
        keepaliveS,
        drainPerMinute,
        logger: log,
      }),
    (signal) => log.info(`${signal} received; stopping simulated dispensers`),
    log,
  );
}

/**
 * Starts something and runs it until SIGINT or SIGTERM, then stops it; resolves with the exit
 * code. The signals are listened to from the start, so one that arrives while it is still
 * starting stops it as soon as it is up.
 */
async function untilSignal(
  start: () => Promise<{ stop(): Promise<void> }>,
  onSignal: (signal: string) => void,
  log: Logger,
): Promise<number> {
  const signalled = Promise.withResolvers<void>();
  let received: string | null = null;
  const listeners = (["SIGINT", "SIGTERM"] as const).map((signal) => {
    const fn = () => {
      if (received !== null) return;
      received = signal;
      onSignal(signal);
      signalled.resolve();
    };
    Deno.addSignalListener(signal, fn);
    return () => Deno.removeSignalListener(signal, fn);
  });
  try {
    const running = await start();
    await signalled.promise;
    try {
      await running.stop();
      return 0;
    } catch (err) {
      log.error("shutdown failed", { error: err });
      return 1;
    }
  } finally {
    for (const remove of listeners) remove();
  }
}

async function serve(args: string[]): Promise<number> {
  const v = parse(args, {
    config: { type: "string" },
    "data-dir": { type: "string" },
    "mqtt-url": { type: "string" },
    "broker-port": { type: "string" },
    "http-port": { type: "string" },
    "http-host": { type: "string" },
    simulate: { type: "string" },
  }, SERVE_HELP);
  if (v.help) {
    console.log(SERVE_HELP);
    return 0;
  }
  const brokerPort = portFlag(v["broker-port"], "--broker-port");
  const httpPort = portFlag(v["http-port"], "--http-port");
  if (v["mqtt-url"] !== undefined && !URL.canParse(String(v["mqtt-url"]))) {
    throw new UsageError(`--mqtt-url is not a URL: ${JSON.stringify(v["mqtt-url"])}`);
  }
  const config: HubConfig = await loadConfig(v.config as string | undefined);
  if (v["data-dir"]) config.data_dir = String(v["data-dir"]);
  if (v["mqtt-url"]) config.mqtt.url = String(v["mqtt-url"]);
  if (brokerPort !== undefined) config.mqtt.broker_port = brokerPort;
  if (httpPort !== undefined) config.http.port = httpPort;
  if (v["http-host"]) config.http.host = String(v["http-host"]);
  const simulateN = intFlag(v.simulate, "--simulate", 0, config.machines.length);

  const log = createLogger("hub");
  return await untilSignal(
    () => startHub({ config, logger: log, simulate: simulateN }),
    (signal) => log.info(`${signal} received; shutting down gracefully`),
    log,
  );
}

/** Runs the CLI with `args`; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  try {
    switch (command) {
      case "serve":
        return await serve(rest);
      case "hash-password":
        return await hashPasswordCommand(rest);
      case "simulate":
        return await simulate(rest);
      case undefined:
      case "help":
      case "-h":
      case "--help":
        console.log(MAIN_HELP);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`Unknown command: ${command}\n\n${MAIN_HELP}`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`error: ${err.message}`);
      return 2;
    }
    if (err instanceof ConfigError) {
      console.error(`error: ${err.message}`);
      return 2;
    }
    console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
