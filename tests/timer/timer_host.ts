/**
 * A hub process with only the timer actor, for the kill -9 tests: a Supervisor running
 * `actors/timer/worker.ts` against the given broker and data directory. Prints `ready` on stdout
 * once the actor serves; stops gracefully on SIGTERM.
 *
 *   deno run -A tests/timer/timer_host.ts --mqtt-url URL --data-dir DIR [--warnings 300,60]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Supervisor } from "../../actors/runtime/supervisor.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    "mqtt-url": { type: "string" },
    "data-dir": { type: "string" },
    warnings: { type: "string", default: "300,60" },
  },
});
if (!values["mqtt-url"] || !values["data-dir"]) {
  console.error("usage: timer_host.ts --mqtt-url URL --data-dir DIR [--warnings 300,60]");
  Deno.exit(2);
}
const warnings = values.warnings ? values.warnings.split(",").filter(Boolean).map(Number) : [];
const sup = new Supervisor({ mqttUrl: values["mqtt-url"], dataDir: values["data-dir"] });
sup.add({
  name: "timer",
  url: new URL("../../actors/timer/worker.ts", import.meta.url),
  config: { warnings_s: warnings },
});
await sup.start();
console.log("ready");
Deno.addSignalListener("SIGTERM", () => {
  sup.stop().finally(() => Deno.exit(0));
});
