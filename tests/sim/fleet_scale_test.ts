/**
 * Scale check, skipped unless asked for (it takes a few seconds and 2,000 sockets):
 *
 *   SIM_SCALE=1000 deno test -A tests/sim/fleet_scale_test.ts
 *
 * @module
 */
import assert from "node:assert/strict";
import { startFleet } from "../../sim/fleet.ts";
import { startBroker } from "../helpers/broker.ts";
import { waitFor } from "../helpers/wait.ts";
import { HubProbe, quiet } from "./probe.ts";

const scale = Number(Deno.env.get("SIM_SCALE") ?? "0");

Deno.test({
  name: `startFleet() connects ${scale || "SIM_SCALE"} dispensers in one process, all acking`,
  ignore: !(scale > 0),
  async fn() {
    await using broker = await startBroker();
    const probe = await HubProbe.start(broker.url);
    const ids = Array.from({ length: scale }, (_, i) => i + 1);
    const t0 = performance.now();
    const fleet = await startFleet({ mqttUrl: broker.url, ids, logger: quiet });
    const connectMs = performance.now() - t0;
    try {
      const t1 = performance.now();
      const cids = await Promise.all(
        ids.map((id) => probe.send(id, { version: 1, status: "active", dispense: true })),
      );
      await waitFor(() => cids.every((c) => probe.ackFor(c)?.status === "ok"), {
        timeoutMs: 30_000,
        message: `${scale} acks`,
      });
      const ackMs = performance.now() - t1;
      console.log(
        `${scale} dispensers (${broker.kind}): connected in ${connectMs.toFixed(0)} ms, ` +
          `${scale} updates acked in ${ackMs.toFixed(0)} ms`,
      );
      assert.ok(ids.every((id) => fleet.get(id).state.dispensing));
    } finally {
      const t2 = performance.now();
      await fleet.stop();
      console.log(`stopped in ${(performance.now() - t2).toFixed(0)} ms`);
      await probe.close();
    }
  },
});
