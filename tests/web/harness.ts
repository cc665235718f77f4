/**
 * One web node against a real broker and the fake handler, on a fake clock, for `app.request()`
 * tests. Secrets are hashed with few PBKDF2 iterations so tests stay fast.
 *
 * @module
 */
import type { ActorStatus } from "../../actors/runtime/supervisor.ts";
import { FakeClock } from "../../lib/clock.ts";
import { type HubConfigInput, parseConfig } from "../../lib/config.ts";
import { hashPassword } from "../../web/auth/password.ts";
import type { LedgerReader } from "../../web/ledger.ts";
import { startWebNode, type WebNode } from "../../web/node.ts";
import { signWebhook } from "../../web/webhooks/signature.ts";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { waitFor } from "../helpers/wait.ts";
import { type FakeHandler, startFakeHandler } from "./fake_handler.ts";
import { quiet } from "./quiet.ts";

export const ADMIN_PASSWORD = "correct horse battery";
export const COUNTER_CODE = "482913";
export const PAYMENTS_SECRET = "payments-secret-0123456789abcdef0123456789";
export const BOOKING_SECRET = "booking-secret-0123456789abcdef0123456789ab";

const fastHashes = (async () => ({
  admin: await hashPassword(ADMIN_PASSWORD, { iterations: 1000 }),
  counter: await hashPassword(COUNTER_CODE, { iterations: 1000 }),
}))();

export interface Harness {
  broker: TestBroker;
  handler: FakeHandler;
  node: WebNode;
  clock: FakeClock;
  dataDir: string;
  actors: ActorStatus[];
  /** `app.request()` with a JSON body when `body` is given. */
  req(
    path: string,
    init?: { method?: string; body?: unknown; headers?: Record<string, string>; ip?: string },
  ): Promise<Response>;
  /** Logs in; returns the cookie header value and the CSRF token. */
  login(): Promise<{ cookie: string; csrf: string }>;
  /** Posts a signed webhook delivery. */
  webhook(
    source: string,
    body: unknown,
    opts?: { secret?: string; timestamp?: number; signature?: string; raw?: string },
  ): Promise<Response>;
  /** Starts a second web node on the same data dir (for persistence tests). */
  restartNode(): Promise<WebNode>;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface HarnessOptions {
  config?: HubConfigInput;
  ledger?: LedgerReader;
  withHandler?: boolean;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const hashes = await fastHashes;
  const broker = await startBroker();
  const clock = new FakeClock(Date.UTC(2026, 5, 1, 10, 0, 0));
  const dataDir = await Deno.makeTempDir({ prefix: "hub-web-test-" });
  const config = parseConfig({
    data_dir: dataDir,
    machines: [
      { id: 1, floor: 1, row: "A" },
      { id: 2, floor: 1, row: "A" },
      { id: 3, floor: 1, row: "B" },
      { id: 4, floor: 2, row: "C", label: "VIP" },
    ],
    ...options.config,
    web: {
      admin_password_hash: hashes.admin,
      counter_codes: [{ staff: "anna", hash: hashes.counter }],
      external_payments: {
        webhook_source: "payments",
        checkout_url_template: "https://pay.example.com/c/{reference}",
      },
      webhooks: {
        payments: { secret: PAYMENTS_SECRET, events: ["payment.succeeded", "payment.failed"] },
        booking: { secret: BOOKING_SECRET, events: ["session.activate"] },
      },
      ...options.config?.web,
    },
  }, "test");
  const handler = await startFakeHandler({
    url: broker.url,
    clock,
    machineIds: config.machines.map((m) => m.id),
  });
  const actors: ActorStatus[] = [];
  const nodes: WebNode[] = [];
  const start = async () => {
    const node = await startWebNode({
      config,
      mqttUrl: broker.url,
      actors: () => structuredClone(actors),
      clock,
      logger: quiet,
      dataDir,
      openLedger: () => {
        if (!options.ledger) throw new Error("no ledger in this test");
        return options.ledger;
      },
      generatedHashIterations: 1000,
    });
    nodes.push(node);
    await waitFor(() => node.link.machines().length === config.machines.length, {
      message: "bay states in the web node's cache",
    });
    return node;
  };
  const node = await start();
  let closed = false;
  const h: Harness = {
    broker,
    handler,
    node,
    clock,
    dataDir,
    actors,
    req(path, init = {}) {
      const headers: Record<string, string> = { ...init.headers };
      let body: string | undefined;
      if (init.body !== undefined) {
        headers["Content-Type"] ??= "application/json";
        body = typeof init.body === "string" ? init.body : JSON.stringify(init.body);
      }
      return Promise.resolve(
        node.app.request(
          path,
          { method: init.method ?? (body === undefined ? "GET" : "POST"), headers, body },
          { remoteAddr: { hostname: init.ip ?? "10.0.0.9" } },
        ),
      );
    },
    async login() {
      const res = await h.req("/api/admin/login", { body: { password: ADMIN_PASSWORD } });
      if (res.status !== 200) throw new Error(`login failed: ${res.status} ${await res.text()}`);
      const { csrf_token } = await res.json();
      const set = res.headers.get("Set-Cookie") ?? "";
      return { cookie: set.split(";")[0], csrf: csrf_token };
    },
    async webhook(source, body, opts = {}) {
      const raw = opts.raw ?? JSON.stringify(body);
      const ts = String(opts.timestamp ?? Math.floor(clock.now() / 1000));
      const secret = opts.secret ?? (source === "booking" ? BOOKING_SECRET : PAYMENTS_SECRET);
      const sig = opts.signature ?? await signWebhook(secret, ts, raw);
      return await node.app.request(`/webhooks/${source}`, {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          "X-Hub-Timestamp": ts,
          "X-Hub-Signature": sig,
        },
        body: raw,
      });
    },
    restartNode: start,
    async close() {
      if (closed) return;
      closed = true;
      for (const n of nodes) await n.stop();
      await handler.stop();
      await broker.stop();
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    },
    [Symbol.asyncDispose]: () => h.close(),
  };
  return h;
}

/** A JSON body, asserting the status first (with the body in the message when it differs). */
export async function json<T = Record<string, unknown>>(
  res: Response,
  status: number,
): Promise<T> {
  const text = await res.text();
  if (res.status !== status) {
    throw new Error(`expected HTTP ${status}, got ${res.status}: ${text}`);
  }
  return JSON.parse(text) as T;
}
