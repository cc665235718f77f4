/**
 * A real broker for tests: Debian's mosquitto on a free loopback port, with a generated config
 * (`set_tcp_nodelay true`). It can be killed and restarted on the same port for fault tests.
 * Where mosquitto is not installed, the embedded broker is used instead (said once).
 *
 * @module
 */
import { startEmbeddedBroker } from "../../lib/embedded_broker.ts";
import { silentLogger } from "../../lib/log.ts";
import { freePort, waitFor } from "./wait.ts";

export interface TestBroker {
  readonly url: string;
  readonly port: number;
  readonly kind: "mosquitto" | "embedded";
  /** The broker's process (this process for the embedded broker); null while it is down. */
  readonly pid: number | null;
  /** Kills the broker abruptly (SIGKILL for mosquitto). */
  kill(): Promise<void>;
  /** Starts it again on the same port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

let warned = false;

export function mosquittoPath(): string | null {
  for (const p of ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"]) {
    try {
      Deno.statSync(p);
      return p;
    } catch {
      // try the next location
    }
  }
  return null;
}

async function portOpen(port: number): Promise<boolean> {
  try {
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    c.close();
    return true;
  } catch {
    return false;
  }
}

/** Starts a broker for one test (or suite). */
export async function startBroker(): Promise<TestBroker> {
  const bin = mosquittoPath();
  const port = freePort();
  if (!bin) {
    if (!warned) {
      warned = true;
      console.warn(
        "mosquitto is not installed (apt-get install mosquitto); tests use the embedded broker",
      );
    }
    let broker = await startEmbeddedBroker({ port, logger: silentLogger });
    return {
      url: broker.url,
      port,
      kind: "embedded",
      pid: Deno.pid,
      kill: () => broker.close(),
      restart: async () => {
        broker = await startEmbeddedBroker({ port, logger: silentLogger });
      },
      stop: () => broker.close(),
      [Symbol.asyncDispose]: () => broker.close(),
    };
  }
  const dir = await Deno.makeTempDir({ prefix: "hub-mosquitto-" });
  const conf = `${dir}/mosquitto.conf`;
  await Deno.writeTextFile(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      "allow_anonymous true",
      "set_tcp_nodelay true",
      "persistence false",
      "max_queued_messages 100000",
      "max_inflight_messages 0",
      "log_dest none",
      "",
    ].join("\n"),
  );
  let child: Deno.ChildProcess | null = null;
  const launch = async () => {
    child = new Deno.Command(bin, {
      args: ["-c", conf],
      stdout: "null",
      stderr: "null",
      stdin: "null",
    }).spawn();
    await waitFor(() => portOpen(port), { timeoutMs: 10_000, message: `mosquitto on ${port}` });
  };
  const halt = async (signal: Deno.Signal) => {
    const c = child as Deno.ChildProcess | null;
    child = null;
    if (!c) return;
    try {
      c.kill(signal);
    } catch {
      // already gone
    }
    await c.status;
  };
  await launch();
  const stop = async () => {
    await halt("SIGTERM");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    kind: "mosquitto",
    get pid() {
      return (child as Deno.ChildProcess | null)?.pid ?? null;
    },
    kill: () => halt("SIGKILL"),
    restart: launch,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
