import assert from "node:assert/strict";
import { ConfigError, loadConfig, parseConfig } from "../../lib/config.ts";

Deno.test("loadConfig() without a file gives working defaults", async () => {
  const c = await loadConfig();
  assert.equal(c.mqtt.url, null);
  assert.equal(c.mqtt.broker_port, 1883);
  assert.equal(c.http.port, 8080);
  assert.equal(c.data_dir, "./data");
  assert.equal(c.machines.length, 24);
  assert.deepEqual(new Set(c.machines.map((m) => m.floor)), new Set([1, 2]));
});

Deno.test("deploy/hub.example.json is a valid configuration", async () => {
  const c = await loadConfig(new URL("../../deploy/hub.example.json", import.meta.url).pathname);
  assert.equal(c.mqtt.url, "mqtt://127.0.0.1:1883");
  assert.ok(c.machines.length >= 2);
});

Deno.test("parseConfig() names every bad field and refuses duplicate machine ids", () => {
  assert.throws(
    () => parseConfig({ machines: [{ id: 1 }, { id: 1 }], mqtt: { broker_port: 70000 } }, "x.json"),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /Invalid configuration in x\.json/);
      assert.match(err.message, /machines: machine ids must be unique/);
      assert.match(err.message, /mqtt\.broker_port/);
      return true;
    },
  );
});
