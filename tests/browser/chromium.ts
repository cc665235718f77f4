/**
 * Debian's Chromium driven by playwright-core. Where it is not installed, the browser tests are
 * skipped and say so loudly, with the install command (`.ci/run` installs it, so CI runs them).
 *
 * @module
 */
import { type Browser, chromium, type Page } from "playwright-core";

export const CHROMIUM_PATH = "/usr/bin/chromium";

function installed(): boolean {
  try {
    return Deno.statSync(CHROMIUM_PATH).isFile;
  } catch {
    return false;
  }
}

export const chromiumInstalled = installed();

if (!chromiumInstalled) {
  const bar = "!".repeat(78);
  console.warn(
    `\n${bar}\n!! Chromium not installed: apt-get install chromium\n` +
      `!! (${CHROMIUM_PATH} is missing) -- the browser tests in tests/browser/ are SKIPPED.\n${bar}\n`,
  );
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}

/** Where screenshots go (git-ignored). */
export const artifactsDir = new URL("../../test-artifacts/", import.meta.url);

export async function screenshot(page: Page, name: string): Promise<string> {
  await Deno.mkdir(artifactsDir, { recursive: true });
  const path = decodeURIComponent(new URL(`${name}.png`, artifactsDir).pathname);
  await page.screenshot({ path, animations: "disabled" });
  return path;
}

/** Fails the test on any uncaught error in the page. */
export function watchErrors(page: Page, label: string): string[] {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(`${label}: ${e.message}`));
  return errors;
}
