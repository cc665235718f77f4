/**
 * The pages and their assets: `/` (and `/kiosk`) the kiosk, `/admin` the admin portal,
 * `/assets/{file}` the bundles from `dist/ui/`. Assets are read with `Deno.readFile` relative to
 * this module, so they are found inside a `deno compile` binary built with `--include dist/`;
 * each is read once and kept in memory.
 *
 * @module
 */
import { type Context, Hono } from "hono";
import type { WebDeps } from "../app.ts";
import { errorPayload, type WebEnv } from "../http.ts";
import { adminPage, kioskPage } from "../pages.ts";
import { ensureUiBuilt } from "../ui/build.ts";

export const DEFAULT_ASSET_DIR = new URL("../../dist/ui/", import.meta.url);

const types: Record<string, string> = {
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  map: "application/json; charset=utf-8",
  svg: "image/svg+xml",
  png: "image/png",
  woff2: "font/woff2",
};

const PAGE_CSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; " +
  "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

export function pageRoutes(deps: WebDeps): Hono<WebEnv> {
  const app = new Hono<WebEnv>();
  const dir = deps.assetDir ?? DEFAULT_ASSET_DIR;
  const cache = new Map<string, Uint8Array>();
  // From a checkout, the first asset request builds dist/ui when it is missing or stale (see
  // web/ui/build.ts); in a compiled binary it only checks that the bundles are inside.
  let built: Promise<Error | null> | null = null;
  const ensureBuilt = () =>
    built ??= ensureUiBuilt(dir).then(() => null, (err: Error) => {
      deps.logger.error("the kiosk and admin bundles are not available", { error: err.message });
      return err;
    });

  const page = (c: Context, html: string) => {
    c.header("Content-Security-Policy", PAGE_CSP);
    c.header("X-Frame-Options", "DENY");
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Referrer-Policy", "same-origin");
    c.header("Cache-Control", "no-cache");
    return c.html(html);
  };

  app.get("/", (c) => page(c, kioskPage(deps.settings.get().kiosk_title)));
  app.get("/kiosk", (c) => page(c, kioskPage(deps.settings.get().kiosk_title)));
  app.get("/admin", (c) => page(c, adminPage(deps.settings.get().kiosk_title)));

  app.get("/assets/:file", async (c) => {
    const file = c.req.param("file");
    const m = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.([a-z0-9]+)$/.exec(file);
    const type = m ? types[m[1]] : undefined;
    if (!m || !type) {
      return c.json(errorPayload("not_found", `No asset ${file}`), 404);
    }
    let bytes = cache.get(file);
    if (!bytes) {
      const buildError = await ensureBuilt();
      if (buildError) {
        return c.json(errorPayload("unavailable", buildError.message), 503);
      }
      try {
        bytes = await Deno.readFile(new URL(file, dir));
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
        return c.json(
          errorPayload(
            "not_found",
            `Asset ${file} is not built; run 'deno task bundle' (it writes dist/ui/).`,
          ),
          404,
        );
      }
      cache.set(file, bytes);
    }
    c.header("Content-Type", type);
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Cache-Control", "no-cache");
    return c.body(bytes as Uint8Array<ArrayBuffer>);
  });

  return app;
}
