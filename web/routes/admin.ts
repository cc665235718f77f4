/**
 * The admin API, mounted under `/api/admin`. Everything but `POST /login` needs a session
 * (cookie `hub_admin`, HttpOnly, SameSite=Strict); every state-changing request also needs the
 * session's CSRF token in `X-CSRF-Token`. Without a session: 401; without the right token: 403.
 *
 * @module
 */
import { Hono } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { MachineId } from "../../protocol/common.ts";
import type { AdminSessionRecord } from "../store.ts";
import type { WebDeps } from "../app.ts";
import { CSRF_HEADER, SESSION_COOKIE } from "../auth/admin_auth.ts";
import { clientKey, readBody, readQuery, type WebEnv, WebError } from "../http.ts";
import {
  AdminCommandBody,
  CheckoutsQuery,
  LedgerQuery,
  LoginBody,
  ResolveBody,
  SettingsBody,
  UsageQuery,
} from "../schemas.ts";
import { dayRange } from "../ledger.ts";
import { usageCsv } from "../usage_csv.ts";
import { commandResponse } from "./common.ts";

type AdminEnv = WebEnv & { Variables: { session: AdminSessionRecord } };

const COOKIE_PATH = "/api/admin";

export function adminRoutes(deps: WebDeps): Hono<AdminEnv> {
  const app = new Hono<AdminEnv>();

  app.post("/login", async (c) => {
    const { password } = await readBody(c, LoginBody);
    const result = await deps.auth.login(password, clientKey(c));
    if (!result.ok) {
      if (result.reason === "locked_out") {
        const s = Math.ceil((result.retryAfterMs ?? 0) / 1000);
        throw new WebError(
          429,
          "locked_out",
          `Too many wrong passwords from this device. Try again in ${s} seconds.`,
          { headers: { "Retry-After": String(s) } },
        );
      }
      throw new WebError(401, "wrong_password", "Wrong password. Check it and try again.");
    }
    setCookie(c, SESSION_COOKIE, result.token, {
      httpOnly: true,
      sameSite: "Strict",
      path: COOKIE_PATH,
      secure: new URL(c.req.url).protocol === "https:",
      maxAge: Math.floor((result.expires_at - deps.clock.now()) / 1000),
    });
    return c.json({ csrf_token: result.csrf, expires_at: result.expires_at });
  });

  // Every other route: a live session, and the CSRF token on anything but GET/HEAD.
  app.use("*", async (c, next) => {
    const session = await deps.auth.session(getCookie(c, SESSION_COOKIE));
    if (!session) {
      throw new WebError(
        401,
        "unauthorized",
        "Not logged in (or the session expired). Log in again.",
      );
    }
    const method = c.req.method;
    if (
      method !== "GET" && method !== "HEAD" &&
      !deps.auth.csrfMatches(session, c.req.header(CSRF_HEADER))
    ) {
      throw new WebError(
        403,
        "csrf_failed",
        `Missing or wrong ${CSRF_HEADER} header. Reload the admin page and try again.`,
      );
    }
    c.set("session", session);
    await next();
  });

  app.get("/session", (c) => {
    const s = c.get("session");
    return c.json({ authenticated: true, csrf_token: s.csrf, expires_at: s.expires_at });
  });

  app.post("/logout", async (c) => {
    const token = getCookie(c, SESSION_COOKIE);
    if (token) await deps.auth.logout(token);
    deleteCookie(c, SESSION_COOKIE, { path: COOKIE_PATH });
    return c.json({ logged_out: true });
  });

  app.post("/machines/:id/commands", async (c) => {
    const id = MachineId.safeParse(Number(c.req.param("id")));
    if (!id.success) {
      throw new WebError(
        400,
        "invalid_request",
        `Invalid bay number in the path: ${c.req.param("id")}`,
      );
    }
    const body = await readBody(c, AdminCommandBody);
    const idempotency = c.req.header("Idempotency-Key");
    const res = await deps.link.command("admin", {
      ...body,
      machine_id: id.data,
      ...(body.idempotency_key || !idempotency ? {} : { idempotency_key: idempotency }),
    });
    return commandResponse(c, deps, res);
  });

  app.get("/alerts", (c) => c.json({ alerts: deps.link.alerts() }));

  app.get("/ledger", async (c) => {
    const q = readQuery(c, LedgerQuery);
    const reader = await deps.ledger();
    const entries = reader.ledger({
      machine_id: q.machine,
      origin: q.origin,
      action: q.action,
      outcome: q.outcome,
      from: q.from,
      to: q.to,
      limit: q.limit,
    });
    return c.json({ entries });
  });

  app.get("/reports/usage.csv", async (c) => {
    const q = readQuery(c, UsageQuery);
    const { fromMs, toMs } = dayRange(q.from, q.to);
    const rows = (await deps.ledger()).usageByBayAndDay(fromMs, toMs);
    c.header("Content-Type", "text/csv; charset=utf-8");
    c.header("Content-Disposition", `attachment; filename="usage_${q.from}_${q.to}.csv"`);
    c.header("Cache-Control", "no-store");
    return c.body(usageCsv(rows, deps.config));
  });

  app.get("/settings", (c) => c.json({ settings: deps.settings.get() }));

  app.put("/settings", async (c) => {
    const body = await readBody(c, SettingsBody);
    return c.json({ settings: deps.settings.update(body) });
  });

  app.get("/checkouts", (c) => {
    const q = readQuery(c, CheckoutsQuery);
    const rows = deps.store.listCheckouts({ states: q.state, limit: q.limit });
    return c.json({ checkouts: rows.map((r) => deps.checkouts.adminView(r)) });
  });

  app.post("/checkouts/:id/resolve", async (c) => {
    const { note } = await readBody(c, ResolveBody);
    const rec = await deps.checkouts.resolve(c.req.param("id"), note);
    return c.json({ checkout: deps.checkouts.adminView(rec) });
  });

  return app;
}
