/**
 * Running `main.ts` as a real child process, as an operator would: to check the command line,
 * and to kill -9 the hub and start it again on the same data directory.
 *
 * @module
 */

export const mainTs = new URL("../../main.ts", import.meta.url).pathname;

const decoder = new TextDecoder();

/** Runs `main.ts ARGS` to completion and returns its exit code and output. */
export async function runMain(...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", mainTs, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** Starts `main.ts ARGS` in the background (stdout and stderr piped). */
export function spawnMain(args: string[], env: Record<string, string> = {}): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", mainTs, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env,
  }).spawn();
}

export interface ServeOptions {
  mqttUrl: string;
  dataDir: string;
  /** A configuration file. */
  config?: string;
  /** HUB_LOG_LEVEL of the child (default error). */
  logLevel?: "debug" | "info" | "warn" | "error";
  /** Show the child's log (set HUB_TEST_LOGS=1 to turn it on for every test). */
  showLogs?: boolean;
}

/**
 * Starts the hub (`main.ts serve`) against an external broker on an ephemeral HTTP port on
 * loopback. Its output is discarded unless asked for; kill it with SIGKILL to simulate a crash.
 */
export function spawnServe(o: ServeOptions): Deno.ChildProcess {
  const show = o.showLogs ?? Boolean(Deno.env.get("HUB_TEST_LOGS"));
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      mainTs,
      "serve",
      "--mqtt-url",
      o.mqttUrl,
      "--data-dir",
      o.dataDir,
      "--http-port",
      "0",
      "--http-host",
      "127.0.0.1",
      ...(o.config ? ["--config", o.config] : []),
    ],
    stdin: "null",
    stdout: "null",
    stderr: show ? "inherit" : "null",
    env: { HUB_LOG_LEVEL: o.logLevel ?? "error" },
  }).spawn();
}
