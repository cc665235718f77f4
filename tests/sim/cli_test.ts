import assert from "node:assert/strict";
import { startBroker } from "../helpers/broker.ts";
import { runMain as run, spawnMain } from "../helpers/main_process.ts";
import { waitFor } from "../helpers/wait.ts";
import { HubProbe, retainedAvailability } from "./probe.ts";

Deno.test("main.ts simulate --help prints usage; the main help lists simulate", async () => {
  const [help, top, serve] = await Promise.all([
    run("simulate", "--help"),
    run("--help"),
    run("serve", "--help"),
  ]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--machines N/);
  assert.match(help.stdout, /--drain-per-minute X/);
  assert.match(help.stdout, /sim\/\{id\}\/control/);
  assert.match(top.stdout, /simulate\s+Run simulated dispensers/);
  assert.match(serve.stdout, /--simulate N/);
});

Deno.test("main.ts simulate exits 2 with a clear message on bad flags", async () => {
  const cases: Array<[string[], RegExp]> = [
    [["simulate", "--bogus"], /Unknown option '--bogus'/],
    [["simulate", "--machines", "3"], /--mqtt-url is required/],
    [["simulate", "--mqtt-url", "mqtt://127.0.0.1:1"], /--machines is required/],
    [["simulate", "--mqtt-url", "::", "--machines", "3"], /--mqtt-url is not a URL/],
    [["simulate", "--mqtt-url", "mqtt://x:1", "--machines", "0"], /--machines must be an integer/],
    [
      ["simulate", "--mqtt-url", "mqtt://x:1", "--machines", "2", "--first-id", "99999"],
      /passes id 99999/,
    ],
    [
      ["simulate", "--mqtt-url", "mqtt://x:1", "--machines", "2", "--keepalive-s", "1.5"],
      /--keepalive-s must be an integer 1\.\.3600/,
    ],
    [
      ["simulate", "--mqtt-url", "mqtt://x:1", "--machines", "2", "--drain-per-minute", "lots"],
      /--drain-per-minute must be a number/,
    ],
    [["serve", "--simulate", "25"], /--simulate must be an integer 0\.\.24/],
  ];
  const results = await Promise.all(cases.map(([args]) => run(...args)));
  results.forEach((r, i) => {
    assert.equal(r.code, 2, `${cases[i][0].join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, cases[i][1]);
  });
});

Deno.test("main.ts simulate runs dispensers until SIGTERM, then stops cleanly", async () => {
  await using broker = await startBroker();
  const probe = await HubProbe.start(broker.url);
  const child = spawnMain([
    "simulate",
    "--mqtt-url",
    broker.url,
    "--machines",
    "3",
    "--first-id",
    "40",
    "--keepalive-s",
    "2",
  ]);
  try {
    await waitFor(
      () => [40, 41, 42].every((id) => probe.lastAvailability(id)?.msg.state === "online"),
      { timeoutMs: 20_000, message: "3 births" },
    );
    assert.equal(probe.lastAvailability(40)?.msg.keepalive_s, 2);
    const cid = await probe.send(41, {
      version: 1,
      status: "active",
      dispense: true,
      remaining_s: 60,
    });
    await waitFor(() => probe.ackFor(cid), { message: "ack from the CLI's dispenser" });
    child.kill("SIGTERM");
    const { code, stderr } = await child.output();
    const log = new TextDecoder().decode(stderr);
    assert.equal(code, 0, log);
    assert.match(log, /SIGTERM received/);
    assert.deepEqual(await retainedAvailability(broker.url, 42), { state: "offline" });
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // already exited
    }
    await probe.close();
  }
});
