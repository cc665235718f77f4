import assert from "node:assert/strict";
import {
  buildUi,
  ensureUiBuilt,
  readManifest,
  UI_ENTRIES,
  UiBuildError,
  uiSourceHash,
} from "../../web/ui/build.ts";

async function tempOut(): Promise<URL> {
  const dir = await Deno.makeTempDir({ prefix: "ui-bundle-" });
  return new URL(`file://${dir}/`);
}

Deno.test("buildUi() bundles both pages for the browser, minified, with a manifest", async () => {
  const out = await tempOut();
  try {
    const manifest = await buildUi({ outDir: out });
    assert.deepEqual(Object.keys(manifest.files).sort(), ["admin.js", "kiosk.js"]);
    assert.equal(manifest.source_hash, await uiSourceHash());
    const kiosk = await Deno.readTextFile(new URL("kiosk.js", out));
    const admin = await Deno.readTextFile(new URL("admin.js", out));
    // Each page's own text, styles and entry code, and not the other page's.
    assert.match(kiosk, /Tap a green bay to start playing/);
    assert.match(kiosk, /\.sheet-backdrop/);
    assert.match(kiosk, /kiosk\.js: the page has no #app element/);
    assert.doesNotMatch(kiosk, /Staff portal/);
    assert.match(admin, /Staff portal/);
    assert.match(admin, /Force override/);
    assert.match(admin, /admin\.js: the page has no #app element/);
    assert.doesNotMatch(admin, /Tap a green bay/);
    for (const js of [kiosk, admin]) {
      assert.doesNotMatch(js, /from\s*["'](npm:|preact|@preact|zod)/, "no bare imports left");
      assert.doesNotMatch(js, /\bDeno\./, "browser code only");
      assert.doesNotMatch(js, /@module|readonly #|: string\b/, "minified JavaScript, no types");
    }
    assert.equal(manifest.files["kiosk.js"].bytes, new TextEncoder().encode(kiosk).length);
    assert.deepEqual(await readManifest(out), manifest);
    const leftovers = [];
    for await (const e of Deno.readDir(out)) leftovers.push(e.name);
    assert.deepEqual(leftovers.sort(), ["admin.js", "kiosk.js", "manifest.json"]);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("ensureUiBuilt() builds a missing or stale bundle and keeps a current one", async () => {
  const out = await tempOut();
  try {
    assert.equal(await ensureUiBuilt(out), true, "missing: built");
    const first = await readManifest(out);
    assert.equal(await ensureUiBuilt(out), false, "current: kept");
    // A bundle of other sources (as after editing a component) is rebuilt.
    await Deno.writeTextFile(
      new URL("manifest.json", out),
      JSON.stringify({ ...first, source_hash: "0".repeat(64) }),
    );
    assert.equal(await ensureUiBuilt(out), true, "stale: rebuilt");
    // A deleted bundle file is rebuilt too.
    await Deno.remove(new URL(UI_ENTRIES["admin.tsx"], out));
    assert.equal(await ensureUiBuilt(out), true, "incomplete: rebuilt");
    await Deno.stat(new URL("admin.js", out));
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("ensureUiBuilt() without sources (a compiled binary) only checks the built files", async () => {
  const out = await tempOut();
  try {
    await assert.rejects(
      ensureUiBuilt(out, { sources: false }),
      (err) => err instanceof UiBuildError && /deno task bundle/.test(err.message),
    );
    await buildUi({ outDir: out });
    // A stale build is used as it is: there is nothing to rebuild it from.
    const m = await readManifest(out);
    await Deno.writeTextFile(
      new URL("manifest.json", out),
      JSON.stringify({ ...m, source_hash: "f".repeat(64) }),
    );
    assert.equal(await ensureUiBuilt(out, { sources: false }), false);
    await Deno.remove(new URL("kiosk.js", out));
    await assert.rejects(ensureUiBuilt(out, { sources: false }), UiBuildError);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
