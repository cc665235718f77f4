import assert from "node:assert/strict";
import type { WebDeps } from "../../web/app.ts";
import { pageRoutes } from "../../web/routes/pages.ts";
import { readManifest } from "../../web/ui/build.ts";

const silent = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silent;
  },
};

/** Just what the page routes read from the web node. */
function deps(assetDir: URL): WebDeps {
  return {
    assetDir,
    settings: { get: () => ({ kiosk_title: "Fairway <Range>", hold_s: 90, prices: [] }) },
    logger: silent,
  } as unknown as WebDeps;
}

Deno.test("pageRoutes() builds the bundles on the first asset request and serves both pages", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ui-pages-" });
  const assetDir = new URL(`file://${dir}/`);
  try {
    const app = pageRoutes(deps(assetDir));
    const kioskHtml = await (await app.request("/")).text();
    assert.match(kioskHtml, /<script type="module" src="\/assets\/kiosk\.js"><\/script>/);
    assert.match(kioskHtml, /<title>Fairway &lt;Range&gt;<\/title>/);
    assert.match(await (await app.request("/admin")).text(), /src="\/assets\/admin\.js"/);
    assert.equal(await readManifest(assetDir), null, "nothing built before an asset is asked for");

    const [kiosk, admin] = await Promise.all([
      app.request("/assets/kiosk.js"),
      app.request("/assets/admin.js"),
    ]);
    assert.equal(kiosk.status, 200);
    assert.equal(kiosk.headers.get("Content-Type"), "text/javascript; charset=utf-8");
    assert.match(await kiosk.text(), /Tap a green bay to start playing/);
    assert.equal(admin.status, 200);
    assert.match(await admin.text(), /Staff portal/);
    assert.ok(await readManifest(assetDir), "built into the asset dir");

    const missing = await app.request("/assets/nope.js");
    assert.equal(missing.status, 404);
    assert.match((await missing.json()).error.message, /nope\.js/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
