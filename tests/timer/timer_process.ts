/**
 * Starts `timer_host.ts` as a real child process and kills it with SIGKILL, for restart tests.
 *
 * @module
 */
import { waitFor } from "../helpers/wait.ts";

const host = new URL("./timer_host.ts", import.meta.url).pathname;

export interface TimerProcess {
  readonly child: Deno.ChildProcess;
  /** `performance.now()` of this test process when the child printed `ready`. */
  readonly readyAt: number;
  /** SIGKILL: no shutdown code runs, nothing more is written. */
  kill9(): Promise<void>;
  /** SIGTERM and wait. */
  stop(): Promise<void>;
}

export async function spawnTimer(
  opts: { mqttUrl: string; dataDir: string; warnings?: number[] },
): Promise<TimerProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      host,
      "--mqtt-url",
      opts.mqttUrl,
      "--data-dir",
      opts.dataDir,
      "--warnings",
      (opts.warnings ?? []).join(","),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: Deno.env.get("TIMER_TEST_LOGS") ? "inherit" : "null",
    env: { HUB_LOG_LEVEL: "warn" },
  }).spawn();
  let out = "";
  let readyAt = 0;
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const pump = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      out += value;
      if (!readyAt && out.includes("ready")) readyAt = performance.now();
    }
  })().catch(() => {});
  let exited = false;
  child.status.then(() => exited = true);
  await waitFor(() => readyAt > 0 || exited, { timeoutMs: 30_000, message: "timer host ready" });
  if (!readyAt) throw new Error(`timer host exited before it was ready: ${out}`);
  const end = async (signal: Deno.Signal) => {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
    await child.status;
    await pump;
  };
  return {
    child,
    readyAt,
    kill9: () => end("SIGKILL"),
    stop: () => end("SIGTERM"),
  };
}
