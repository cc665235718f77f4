import { runMain as run, spawnMain } from "./helpers/main_process.ts";
import assert from "node:assert/strict";

Deno.test("main.ts --help and serve --help print usage and exit 0", async () => {
  const top = await run("--help");
  assert.equal(top.code, 0);
  assert.match(top.stdout, /Commands:/);
  const serve = await run("serve", "--help");
  assert.equal(serve.code, 0);
  assert.match(serve.stdout, /--mqtt-url URL/);
  assert.match(serve.stdout, /--broker-port N/);
});

Deno.test("main.ts exits 2 with a clear message on bad flags", async () => {
  const bogus = await run("serve", "--bogus");
  assert.equal(bogus.code, 2);
  assert.match(bogus.stderr, /Unknown option '--bogus'/);
  const port = await run("serve", "--http-port", "eighty");
  assert.equal(port.code, 2);
  assert.match(port.stderr, /--http-port must be a port number/);
  const cmd = await run("explode");
  assert.equal(cmd.code, 2);
  assert.match(cmd.stderr, /Unknown command: explode/);
});

Deno.test("main.ts serve fails at start on a bad config file, naming path and field", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/hub.json`;
  await Deno.writeTextFile(file, JSON.stringify({ machines: [{ id: 0 }], http: { port: "x" } }));
  const r = await run("serve", "--config", file);
  assert.equal(r.code, 2);
  assert.match(r.stderr, new RegExp(`Invalid configuration in ${file}`));
  assert.match(r.stderr, /machines\.0\.id/);
  assert.match(r.stderr, /http\.port/);
  await Deno.writeTextFile(file, "{ not json");
  const r2 = await run("serve", "--config", file);
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /not valid JSON/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("main.ts serve starts on embedded defaults and stops gracefully on SIGTERM", async () => {
  const { freePort, waitFor } = await import("./helpers/wait.ts");
  const dir = await Deno.makeTempDir();
  const httpPort = freePort();
  const child = spawnMain([
    "serve",
    "--data-dir",
    dir,
    "--broker-port",
    String(freePort()),
    "--http-port",
    String(httpPort),
    "--http-host",
    "127.0.0.1",
  ]);
  try {
    const health = await waitFor(async () => {
      const r = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
      return r.ok ? await r.json() : (await r.body?.cancel(), null);
    }, { timeoutMs: 30_000, intervalMs: 100, message: "healthz 200" });
    assert.equal(health.broker_connected, true);
  } finally {
    child.kill("SIGTERM");
  }
  const out = await child.output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  assert.match(stderr, /SIGTERM received; shutting down gracefully/);
  assert.match(stderr, /\bstopped\b/);
  await Deno.remove(dir, { recursive: true });
});
