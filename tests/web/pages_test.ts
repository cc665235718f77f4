import assert from "node:assert/strict";
import { json, startHarness } from "./harness.ts";

Deno.test("GET / and /admin serve HTML shells that load the bundles", async () => {
  await using h = await startHarness();
  const kiosk = await h.req("/");
  assert.equal(kiosk.status, 200);
  assert.match(kiosk.headers.get("Content-Type") ?? "", /text\/html/);
  assert.match(kiosk.headers.get("Content-Security-Policy") ?? "", /frame-ancestors 'none'/);
  const html = await kiosk.text();
  assert.match(html, /<script type="module" src="\/assets\/kiosk\.js"><\/script>/);
  assert.match(html, /<title>Driving range<\/title>/);
  assert.match(html, /data-page="kiosk"/);
  const admin = await (await h.req("/admin")).text();
  assert.match(admin, /src="\/assets\/admin\.js"/);
  assert.match(admin, /<title>Driving range · Admin<\/title>/);
  assert.match(await (await h.req("/kiosk")).text(), /assets\/kiosk\.js/);
});

Deno.test("the kiosk title is escaped into the shell", async () => {
  await using h = await startHarness({ config: { web: { kiosk_title: "<b>Tee & Co</b>" } } });
  const html = await (await h.req("/")).text();
  assert.match(html, /<title>&lt;b&gt;Tee &amp; Co&lt;\/b&gt;<\/title>/);
});

Deno.test("GET /assets/{file} refuses names outside the bundle directory", async () => {
  // Serving and building the bundles (web/ui/build.ts) is tested with the UI; here only the
  // names that must never reach the file system.
  await using h = await startHarness();
  for (const bad of ["/assets/..%2Fweb.db", "/assets/x.exe", "/assets/.env", "/assets/a%00.js"]) {
    const r = await h.req(bad);
    assert.equal(r.status, 404, bad);
    await r.body?.cancel();
  }
});

Deno.test("unknown paths answer 404 JSON; oversized API bodies 413", async () => {
  await using h = await startHarness();
  const nf = await json<{ error: { code: string; message: string } }>(
    await h.req("/api/nothing"),
    404,
  );
  assert.equal(nf.error.code, "not_found");
  assert.match(nf.error.message, /GET \/api\/nothing/);
  const big = await json<{ error: { code: string } }>(
    await h.req("/api/kiosk/checkouts", { body: { pad: "x".repeat(70_000) } }),
    413,
  );
  assert.equal(big.error.code, "payload_too_large");
});
