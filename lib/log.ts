/**
 * Minimal structured logger: one line per event on stderr, with the component name.
 *
 * @module
 */

export type LogLevel = "debug" | "info" | "warn" | "error";
const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(name: string): Logger;
}

function envLevel(): LogLevel {
  try {
    const v = Deno.env.get("HUB_LOG_LEVEL");
    if (v === "debug" || v === "info" || v === "warn" || v === "error") return v;
  } catch {
    // env permission not granted: fall back to the default
  }
  return "info";
}

/** Creates a logger named `name`; the level comes from `level` or `HUB_LOG_LEVEL`. */
export function createLogger(name: string, level: LogLevel = envLevel()): Logger {
  const min = order[level];
  const write = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (order[lvl] < min) return;
    let line = `${new Date().toISOString()} ${lvl.toUpperCase().padEnd(5)} [${name}] ${msg}`;
    if (fields && Object.keys(fields).length > 0) {
      line += " " + JSON.stringify(fields, (_k, v) => v instanceof Error ? String(v) : v);
    }
    console.error(line);
  };
  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
    child: (sub) => createLogger(`${name}/${sub}`, level),
  };
}

const noop = () => {};

/** A logger that drops everything: for tests and benchmarks. */
export const silentLogger: Logger = {
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  child: () => silentLogger,
};
