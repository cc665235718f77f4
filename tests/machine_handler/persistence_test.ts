/**
 * Durability across a real kill -9: the hub runs as a separate process (`main.ts serve`), takes
 * commands from several bays at once, is killed with SIGKILL in the middle of the traffic and
 * started again on the same data directory. Every command acknowledged before the kill must be
 * in the ledger and in the restored state, and a retry of it must be answered as a duplicate.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { openLedgerReader } from "../../actors/machine_handler/queries.ts";
import { MqttAdapter } from "../../lib/mqtt_adapter.ts";
import { RpcClient } from "../../lib/rpc_client.ts";
import { startFleet } from "../../sim/fleet.ts";
import { startBroker } from "../helpers/broker.ts";
import { spawnServe } from "../helpers/main_process.ts";
import { waitFor } from "../helpers/wait.ts";
import { quiet } from "./harness.ts";

function serve(mqttUrl: string, dataDir: string, config: string): Deno.ChildProcess {
  return spawnServe({ mqttUrl, dataDir, config });
}

interface Acked {
  id: number;
  action: "activate" | "deactivate";
  session_id: string;
  idempotency_key: string;
  correlation_id: string;
  version: number;
}

Deno.test("every command acknowledged before a kill -9 is in the ledger and the restored state; retries are duplicates", async () => {
  await using broker = await startBroker();
  const dir = await Deno.makeTempDir({ prefix: "mh-kill-" });
  const ids = [1, 2, 3, 4, 5, 6, 7, 8];
  const config = join(dir, "config.json");
  await Deno.writeTextFile(
    config,
    JSON.stringify({
      machines: ids.map((id) => ({ id })),
      handler: { ack_timeout_ms: 1_000, time_zone: "UTC" },
    }),
  );
  const dataDir = join(dir, "data");
  const fleet = await startFleet({ mqttUrl: broker.url, ids, logger: quiet, control: false });
  const mqtt = new MqttAdapter({ url: broker.url, clientId: "kill-test", logger: quiet });
  await mqtt.connect();
  let client = new RpcClient(mqtt, "kiosk", { logger: quiet, defaultTimeoutMs: 5_000 });
  await client.start();
  const ready = () =>
    waitFor(async () => {
      const r = await client.request("machines/status/request", {}, { timeoutMs: 300 })
        .catch(() => null);
      return r?.status === "ok" && r.data.machines.every((m) => m.online);
    }, { timeoutMs: 20_000, intervalMs: 50, message: "hub ready" });

  let hub = serve(broker.url, dataDir, config);
  try {
    await ready();
    const acked: Acked[] = [];
    let stop = false;
    const chain = async (id: number) => {
      for (let k = 0; !stop; k++) {
        for (const action of ["activate", "deactivate"] as const) {
          const session_id = `b${id}-${k}`;
          const idempotency_key = `${action}-${session_id}`;
          const correlation_id = crypto.randomUUID();
          const r = await client.request(
            "machines/commands",
            action === "activate"
              ? { action, machine_id: id, duration_s: 600, session_id, idempotency_key }
              : { action, machine_id: id, session_id, idempotency_key },
            { correlationId: correlation_id },
          ).catch(() => null);
          if (!r || stop) return;
          assert.equal(r.status, "ok", JSON.stringify(r));
          if (r.status !== "ok") return;
          acked.push({
            id,
            action,
            session_id,
            idempotency_key,
            correlation_id,
            version: r.data.machine.desired_version,
          });
        }
      }
    };
    const chains = Promise.all(ids.map(chain));
    await waitFor(() => acked.length >= 120, { timeoutMs: 20_000, message: "traffic" });
    hub.kill("SIGKILL");
    // Replies that arrive from here on were sent before the kill: count them too.
    await hub.status;
    stop = true;
    client.close();
    await chains;
    const killedAt = acked.length;

    hub = serve(broker.url, dataDir, config);
    client = new RpcClient(mqtt, "kiosk", { logger: quiet, defaultTimeoutMs: 5_000 });
    await client.start();
    await ready();

    const reader = openLedgerReader(dataDir);
    const ledger = new Map(reader.ledger({ limit: 10_000 }).map((e) => [e.correlation_id, e]));
    const sessions = new Map(reader.sessions().map((s) => [s.session_id, s]));
    reader.close();
    for (const a of acked) {
      const row = ledger.get(a.correlation_id);
      assert.ok(row, `acknowledged ${a.action} ${a.session_id} is in the ledger`);
      assert.ok(["ok", "interrupted"].includes(row.outcome), `${a.session_id}: ${row.outcome}`);
      const s = sessions.get(a.session_id);
      assert.ok(s, `session ${a.session_id} recorded`);
      if (a.action === "deactivate") assert.notEqual(s.ended_at, null, `${a.session_id} ended`);
    }
    const status = await client.call("machines/status/request", {});
    for (const id of ids) {
      const last = acked.filter((a) => a.id === id).at(-1);
      if (!last) continue;
      const m = status.machines.find((x) => x.machine_id === id)!;
      assert.ok(m.desired_version >= last.version, `bay ${id} lost its acknowledged version`);
      if (last.action === "activate" && m.desired_version === last.version) {
        assert.equal(m.session?.session_id, last.session_id);
      }
    }
    // A retry of an acknowledged command after the restart is not applied again.
    for (const a of acked.slice(-8)) {
      const r = await client.request(
        "machines/commands",
        a.action === "activate"
          ? {
            action: a.action,
            machine_id: a.id,
            duration_s: 600,
            session_id: a.session_id,
            idempotency_key: a.idempotency_key,
          }
          : {
            action: a.action,
            machine_id: a.id,
            session_id: a.session_id,
            idempotency_key: a.idempotency_key,
          },
      );
      assert.equal(r.status, "ok", JSON.stringify(r));
      assert.equal(r.duplicate, true, `${a.action} ${a.session_id} repeated, not re-applied`);
    }
    const interrupted = [...ledger.values()].filter((e) => e.outcome === "interrupted").length;
    console.log(
      `${killedAt} commands acknowledged before the kill, all found after the restart ` +
        `(${interrupted} in flight at the kill, recorded as interrupted)`,
    );
    // The dispensers follow the restored state.
    await waitFor(() =>
      ids.every((id) => {
        const m = status.machines.find((x) => x.machine_id === id)!;
        return fleet.get(id).state.version >= m.desired_version;
      }), { message: "dispensers resynchronised" });
  } finally {
    try {
      hub.kill("SIGKILL");
    } catch {
      // already gone
    }
    await hub.status;
    client.close();
    await mqtt.close();
    await fleet.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
