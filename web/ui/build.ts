/**
 * Builds the browser bundles: `deno bundle --platform browser --minify` of the two entry points
 * (`kiosk.tsx`, `admin.tsx`; each imports its style sheets as text) into `dist/ui/`, with a
 * manifest holding a hash of the sources. `deno task bundle` runs it; a server started from source runs
 * {@linkcode ensureUiBuilt} so a fresh clone works without a manual step, and a compiled binary
 * carries the built files (`deno compile --include dist/ui/`).
 *
 * Files are written to temporary names and renamed into place, so a page (or a second build
 * running at the same time, e.g. parallel tests) never reads a half-written bundle.
 *
 * @module
 */

/** The UI could not be built or its built files are missing. */
export class UiBuildError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UiBuildError";
  }
}

/** The page scripts: entry file in web/ui -> bundle name in dist/ui. */
export const UI_ENTRIES = { "kiosk.tsx": "kiosk.js", "admin.tsx": "admin.js" } as const;
export const MANIFEST = "manifest.json";

/** `web/ui/` (the sources) and `dist/ui/` (the default output), from this file's location. */
export const uiSourceDir = new URL("./", import.meta.url);
export const repoRoot = new URL("../../", import.meta.url);
export const defaultOutDir = new URL("dist/ui/", repoRoot);

export interface UiManifest {
  source_hash: string;
  built_at: string;
  files: Record<string, { bytes: number; sha256: string }>;
}

export interface BuildOptions {
  /** Output directory (default `dist/ui/` of the repository). */
  outDir?: URL;
  /** Minify the scripts (default true). */
  minify?: boolean;
  /** The deno executable (default: this process's, which is deno when run from source). */
  denoPath?: string;
}

/** A file URL as a path for APIs that take strings. */
function toPath(url: URL): string {
  return decodeURIComponent(url.pathname);
}

async function sha256Hex(data: Uint8Array | string): Promise<string> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function exists(url: URL): Promise<boolean> {
  try {
    await Deno.stat(url);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** Whether the UI sources are present (running from a checkout, not from a compiled binary). */
export function hasUiSources(): Promise<boolean> {
  return exists(new URL("kiosk.tsx", uiSourceDir));
}

/**
 * A hash over every file under web/ui and the files that pick dependency versions and the JSX
 * settings (deno.json, deno.lock): a changed source means a stale bundle.
 */
export async function uiSourceHash(): Promise<string> {
  const files: string[] = [];
  const walk = async (dir: URL, prefix: string) => {
    for await (const e of Deno.readDir(dir)) {
      if (e.isDirectory) await walk(new URL(`${e.name}/`, dir), `${prefix}${e.name}/`);
      else if (e.isFile) files.push(`${prefix}${e.name}`);
    }
  };
  await walk(uiSourceDir, "web/ui/");
  files.sort();
  const parts: string[] = [];
  for (const f of [...files, "deno.json", "deno.lock"]) {
    const url = new URL(f, repoRoot);
    if (!(await exists(url))) continue;
    parts.push(`${f}\0${await sha256Hex(await Deno.readFile(url))}`);
  }
  return await sha256Hex(parts.join("\n"));
}

/** Reads the manifest of a build, or null when there is none (or it is unreadable). */
export async function readManifest(outDir: URL = defaultOutDir): Promise<UiManifest | null> {
  try {
    return JSON.parse(await Deno.readTextFile(new URL(MANIFEST, outDir))) as UiManifest;
  } catch {
    return null;
  }
}

/** Builds the bundles and style sheets into `outDir`; returns the manifest written. */
export async function buildUi(options: BuildOptions = {}): Promise<UiManifest> {
  const outDir = options.outDir ?? defaultOutDir;
  if (!(await hasUiSources())) {
    throw new UiBuildError(
      `The UI sources are not here (${toPath(new URL("kiosk.tsx", uiSourceDir))}); build from a ` +
        "checkout of the repository.",
    );
  }
  const sourceHash = await uiSourceHash();
  await Deno.mkdir(outDir, { recursive: true });
  const work = await Deno.makeTempDir({ dir: toPath(outDir), prefix: ".build-" });
  try {
    const args = [
      "bundle",
      "--quiet",
      "--platform",
      "browser",
      "--config",
      toPath(new URL("deno.json", repoRoot)),
      "--outdir",
      work,
      ...(options.minify === false ? [] : ["--minify"]),
      ...Object.keys(UI_ENTRIES).map((f) => toPath(new URL(f, uiSourceDir))),
    ];
    let out: Deno.CommandOutput;
    try {
      out = await new Deno.Command(options.denoPath ?? Deno.execPath(), {
        args,
        cwd: toPath(repoRoot),
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).output();
    } catch (err) {
      throw new UiBuildError(
        `Cannot run 'deno bundle' (${(err as Error).message}); run 'deno task bundle' with ` +
          "permission to run subprocesses (--allow-run).",
        { cause: err },
      );
    }
    if (!out.success) {
      const stderr = new TextDecoder().decode(out.stderr).trim();
      throw new UiBuildError(`deno bundle failed (exit ${out.code}):\n${stderr}`);
    }
    const files: UiManifest["files"] = {};
    for (const name of Object.values(UI_ENTRIES)) {
      let data: Uint8Array;
      try {
        data = await Deno.readFile(`${work}/${name}`);
      } catch (err) {
        throw new UiBuildError(`deno bundle did not write ${name}`, { cause: err });
      }
      files[name] = { bytes: data.length, sha256: await sha256Hex(data) };
    }
    // Into place one by one (each rename is atomic); the manifest last marks the build done.
    for (const name of Object.keys(files)) {
      await Deno.rename(`${work}/${name}`, new URL(name, outDir));
    }
    const manifest: UiManifest = {
      source_hash: sourceHash,
      built_at: new Date().toISOString(),
      files,
    };
    await Deno.writeTextFile(`${work}/${MANIFEST}`, JSON.stringify(manifest, null, 2) + "\n");
    await Deno.rename(`${work}/${MANIFEST}`, new URL(MANIFEST, outDir));
    return manifest;
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

/**
 * Makes sure `outDir` holds a build of the current sources: from a checkout, builds when the
 * bundle is missing or older than the sources; without sources (a compiled binary), only checks
 * that the built files are there. `options.sources` overrides the detection (tests). Returns
 * whether it built.
 */
export async function ensureUiBuilt(
  outDir: URL = defaultOutDir,
  options: { sources?: boolean } = {},
): Promise<boolean> {
  const manifest = await readManifest(outDir);
  if (options.sources ?? await hasUiSources()) {
    if (
      manifest && manifest.source_hash === (await uiSourceHash()) &&
      (await filesPresent(outDir, manifest))
    ) {
      return false;
    }
    await buildUi({ outDir });
    return true;
  }
  if (!manifest || !(await filesPresent(outDir, manifest))) {
    throw new UiBuildError(
      `The kiosk and admin pages are missing from ${toPath(outDir)}: this build was made ` +
        "without 'deno task bundle' (deno task compile runs it first).",
    );
  }
  return false;
}

async function filesPresent(outDir: URL, manifest: UiManifest): Promise<boolean> {
  const names = Object.values(UI_ENTRIES);
  for (const n of names) {
    if (!manifest.files?.[n] || !(await exists(new URL(n, outDir)))) return false;
  }
  return true;
}
