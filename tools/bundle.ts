/**
 * `deno task bundle`: builds the kiosk and admin bundles into `dist/ui/` (see web/ui/build.ts).
 *
 *   deno run -A tools/bundle.ts [--out DIR] [--no-minify]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { buildUi, UiBuildError } from "../web/ui/build.ts";

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { out: { type: "string" }, "no-minify": { type: "boolean" } },
  });
  const outDir = values.out ? pathToFileURL(`${resolve(values.out)}/`) : undefined;
  try {
    const started = performance.now();
    const m = await buildUi({ outDir, minify: !values["no-minify"] });
    const sizes = Object.entries(m.files).map(([n, f]) => `${n} ${(f.bytes / 1024).toFixed(1)} KB`);
    console.log(
      `UI built in ${Math.round(performance.now() - started)} ms: ${sizes.join(", ")}`,
    );
  } catch (err) {
    console.error(err instanceof UiBuildError ? err.message : err);
    Deno.exit(1);
  }
}
