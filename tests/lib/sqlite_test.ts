import assert from "node:assert/strict";
import { join } from "node:path";
import { openDurableDatabase } from "../../lib/sqlite.ts";

Deno.test("openDurableDatabase() opens with WAL and synchronous FULL", async () => {
  const dir = await Deno.makeTempDir();
  const db = openDurableDatabase(join(dir, "nested", "x.db"));
  try {
    assert.equal(
      (db.prepare("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode,
      "wal",
    );
    // 2 = FULL: a commit is on disk before it returns.
    assert.equal(
      (db.prepare("PRAGMA synchronous").get() as { synchronous: number }).synchronous,
      2,
    );
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("every store that writes opens its database through openDurableDatabase()", async () => {
  // Durability must not be traded for speed anywhere: no other file sets journal or sync modes.
  const root = new URL("../../", import.meta.url);
  const offenders: string[] = [];
  for (const dir of ["actors", "lib", "web", "sim"]) {
    for await (const path of walk(new URL(`${dir}/`, root))) {
      if (path.endsWith("lib/sqlite.ts")) continue;
      const text = await Deno.readTextFile(path);
      if (/PRAGMA\s+(synchronous|journal_mode)\s*=/i.test(text)) offenders.push(path);
    }
  }
  assert.deepEqual(offenders, []);
});

async function* walk(dir: URL): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const url = new URL(e.name + (e.isDirectory ? "/" : ""), dir);
    if (e.isDirectory) yield* walk(url);
    else if (/\.tsx?$/.test(e.name)) yield url.pathname;
  }
}
