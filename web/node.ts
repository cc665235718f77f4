/**
 * The web node: builds the hub link, web.db, settings, payments, admin auth and the Hono app, and
 * stops them again. `startHub()` calls {@linkcode startWebNode} and serves `node.app.fetch`;
 * tests call it directly against a test broker and use `node.app.request()`.
 *
 * @module
 */
import { join } from "node:path";
import type { ActorStatus } from "../actors/runtime/supervisor.ts";
import { type Clock, systemClock } from "../lib/clock.ts";
import type { HubConfig } from "../lib/config.ts";
import { createLogger, type Logger } from "../lib/log.ts";
import { AdminAuth } from "./auth/admin_auth.ts";
import { FailureLimiter } from "./auth/failure_limiter.ts";
import { hashPassword } from "./auth/password.ts";
import { createApp, type WebDeps } from "./app.ts";
import { randomToken } from "./encoding.ts";
import { EventBus } from "./event_bus.ts";
import { WebError } from "./http.ts";
import { HubLink } from "./hub_link.ts";
import type { LedgerReader } from "./ledger.ts";
import { openLedgerReader } from "../actors/machine_handler/queries.ts";
import { Histogram } from "./metrics.ts";
import { Checkouts } from "./payments/checkouts.ts";
import { CounterProvider } from "./payments/counter.ts";
import { ExternalProvider } from "./payments/external.ts";
import type { PaymentProvider } from "./payments/provider.ts";
import { Settings } from "./settings.ts";
import { WebStore } from "./store.ts";

export interface WebNodeOptions {
  config: HubConfig;
  mqttUrl: string;
  /** Actor status for /healthz and /metrics (the supervisor's `status()`). */
  actors?: () => ActorStatus[];
  clock?: Clock;
  logger?: Logger;
  /** Where web.db lives; default `config.data_dir`. */
  dataDir?: string;
  /** Opens the machine handler's ledger read-only; default: its `queries.ts` on the data dir. */
  openLedger?: (dataDir: string) => LedgerReader | Promise<LedgerReader>;
  assetDir?: URL;
  /** PBKDF2 cost of generated one-run secrets (tests lower it). */
  generatedHashIterations?: number;
}

export interface WebNode {
  app: ReturnType<typeof createApp>;
  deps: WebDeps;
  link: HubLink;
  /** The one-run admin password when the config has none (logged once at start); else null. */
  generatedAdminPassword: string | null;
  /** The one-run counter code when the config has none (logged once at start); else null. */
  generatedCounterCode: string | null;
  /** Ends every open `/api/events` stream (before the HTTP server shuts down). */
  closeStreams(): void;
  stop(): Promise<void>;
}

/** Starts the web node; resolves once it is connected to the broker. */
export async function startWebNode(options: WebNodeOptions): Promise<WebNode> {
  const { config } = options;
  const clock = options.clock ?? systemClock;
  const log = options.logger ?? createLogger("web");
  const dataDir = options.dataDir ?? config.data_dir;
  const web = config.web;
  const iterations = options.generatedHashIterations ?? 100_000;

  let generatedAdminPassword: string | null = null;
  let adminHash = web.admin_password_hash;
  if (!adminHash) {
    generatedAdminPassword = randomToken(12);
    adminHash = await hashPassword(generatedAdminPassword, { iterations });
    log.warn(
      "web.admin_password_hash is not set: the admin password for this run is " +
        `${generatedAdminPassword} (set a permanent one with 'main.ts hash-password')`,
    );
  }
  let counterCodes = web.counter_codes;
  let generatedCounterCode: string | null = null;
  if (counterCodes.length === 0) {
    const n = crypto.getRandomValues(new Uint32Array(1))[0] % 1_000_000;
    generatedCounterCode = String(n).padStart(6, "0");
    counterCodes = [{
      staff: "counter",
      hash: await hashPassword(generatedCounterCode, { iterations }),
    }];
    log.warn(
      "web.counter_codes is empty: the pay-at-the-counter staff code for this run is " +
        `${generatedCounterCode} (configure codes with 'main.ts hash-password')`,
    );
  }

  await Deno.mkdir(dataDir, { recursive: true });
  const store = WebStore.open(join(dataDir, "web.db"));
  const bus = new EventBus();
  const latency = new Histogram();
  const link = new HubLink({
    mqttUrl: options.mqttUrl,
    clientId: `${config.hub_id}-web-${crypto.randomUUID().slice(0, 8)}`,
    bus,
    clock,
    logger: log.child("link"),
    commandTimeoutMs: web.command_timeout_ms,
    onLatency: (topic, origin, ms) => latency.observe({ topic, origin }, ms / 1000),
  });
  const settings = new Settings(store, web, { clock, bus });
  const providers: PaymentProvider[] = [new CounterProvider(counterCodes)];
  if (web.external_payments.webhook_source) {
    providers.push(
      new ExternalProvider({
        source: web.external_payments.webhook_source,
        checkoutUrlTemplate: web.external_payments.checkout_url_template,
      }),
    );
  }
  const checkouts = new Checkouts({
    link,
    store,
    settings,
    providers,
    codeLimiter: new FailureLimiter({ clock }),
    currency: web.currency,
    bus,
    clock,
    logger: log.child("checkouts"),
  });
  const auth = new AdminAuth({
    store,
    passwordHash: adminHash,
    sessionTtlMs: web.admin_session_ttl_s * 1000,
    clock,
  });

  const openLedger = options.openLedger ?? defaultOpenLedger;
  let ledger: LedgerReader | null = null;
  /** Opens the ledger on first use (the handler creates it at its first start), then keeps it. */
  const ledgerReader = async (): Promise<LedgerReader> => {
    if (ledger) return ledger;
    try {
      ledger = await openLedger(dataDir);
      return ledger;
    } catch (err) {
      throw new WebError(
        503,
        "report_unavailable",
        `The command ledger cannot be read yet (${(err as Error).message}). Try again shortly.`,
        { cause: err },
      );
    }
  };

  const deps: WebDeps = {
    config,
    link,
    bus,
    store,
    settings,
    checkouts,
    auth,
    latency,
    webhookCounts: new Map(),
    sse: { open: 0, shutdown: new AbortController() },
    actors: options.actors ?? (() => []),
    ledger: ledgerReader,
    clock,
    logger: log,
    assetDir: options.assetDir,
  };
  // Checkouts first: they follow bay states from the first retained message on.
  checkouts.start();
  try {
    await link.start();
  } catch (err) {
    checkouts.stop();
    await link.stop();
    store.close();
    throw err;
  }
  const app = createApp(deps);

  let stopped = false;
  return {
    app,
    deps,
    link,
    generatedAdminPassword,
    generatedCounterCode,
    closeStreams: () => deps.sse.shutdown.abort(),
    async stop() {
      if (stopped) return;
      stopped = true;
      deps.sse.shutdown.abort();
      checkouts.stop();
      await link.stop();
      ledger?.close?.();
      store.close();
    },
  };
}

function defaultOpenLedger(dataDir: string): LedgerReader {
  return openLedgerReader(dataDir);
}
