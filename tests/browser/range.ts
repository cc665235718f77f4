/**
 * A whole range for browser tests: a real broker (mosquitto), the real hub (`startHub()`: actors
 * in Workers, web node, HTTP on a free port) with a temp data dir, and simulated dispensers for
 * every bay. Known admin password and counter code; external payments on.
 *
 * @module
 */
import { parseConfig } from "../../lib/config.ts";
import { type RunningHub, startHub } from "../../lib/hub.ts";
import { createLogger } from "../../lib/log.ts";
import { hashPassword } from "../../web/auth/password.ts";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { freePort } from "../helpers/wait.ts";

export const ADMIN_PASSWORD = "fairway-admin-pw";
export const COUNTER_CODE = "482913";
export const WEBHOOK_SECRET = "browser-test-secret-0123456789abcdef";

export interface TestRange {
  hub: RunningHub;
  broker: TestBroker;
  baseUrl: string;
  dataDir: string;
  stop(): Promise<void>;
}

/** Eight bays: floor 1 rows A (1-4) and B (5-6), floor 2 row C (7-8). */
export async function startRange(): Promise<TestRange> {
  const broker = await startBroker();
  const dataDir = await Deno.makeTempDir({ prefix: "hub-browser-" });
  const fast = { iterations: 1_000 };
  const config = parseConfig({
    data_dir: dataDir,
    mqtt: { url: broker.url },
    http: { host: "127.0.0.1", port: freePort() },
    machines: [1, 2, 3, 4, 5, 6, 7, 8].map((id) => ({
      id,
      floor: id <= 6 ? 1 : 2,
      row: id <= 4 ? "A" : id <= 6 ? "B" : "C",
    })),
    handler: { default_keepalive_s: 5 },
    web: {
      kiosk_title: "Fairway Driving Range",
      hold_s: 90,
      admin_password_hash: await hashPassword(ADMIN_PASSWORD, fast),
      counter_codes: [{ staff: "Sam", hash: await hashPassword(COUNTER_CODE, fast) }],
      external_payments: { webhook_source: "payco" },
      webhooks: {
        payco: { secret: WEBHOOK_SECRET, events: ["payment.succeeded", "payment.failed"] },
      },
    },
  }, "browser test range");
  let hub: RunningHub;
  try {
    hub = await startHub({ config, simulate: 8, logger: createLogger("hub", "error") });
  } catch (err) {
    await broker.stop();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    throw err;
  }
  return {
    hub,
    broker,
    baseUrl: `http://127.0.0.1:${hub.httpPort}`,
    dataDir,
    async stop() {
      await hub.stop();
      await broker.stop();
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    },
  };
}
