/**
 * A small stand-in for the machine handler, for web tests: serves `machines/commands` and
 * `machines/status/request` with `RpcServer` on a real broker, keeps bays in memory, publishes
 * each bay's retained `machines/{id}/state` after every change, and lapses payment holds on the
 * (fake) clock. It follows the handler's contract (codes, messages, duplicates) closely enough
 * for the web node; the real handler's own rules are tested in its own suite.
 *
 * @module
 */
import type { Clock, TimerHandle } from "../../lib/clock.ts";
import { HandlerError } from "../../lib/errors.ts";
import { MqttAdapter } from "../../lib/mqtt_adapter.ts";
import { Reply, RpcServer } from "../../lib/rpc_server.ts";
import type { CommandResult, MachineCommand } from "../../protocol/command.ts";
import type { MachineState } from "../../protocol/machine.ts";
import { topics } from "../../protocol/topics.ts";
import { quiet } from "./quiet.ts";

export interface FakeHandler {
  readonly commands: MachineCommand[];
  /** When true, commands get no reply at all (the handler hangs). */
  mute: boolean;
  state(id: number): MachineState;
  /** Sets a bay's state directly (as if the handler had changed it) and publishes it. */
  put(id: number, patch: Partial<MachineState>): Promise<void>;
  stop(): Promise<void>;
}

export async function startFakeHandler(
  options: { url: string; clock: Clock; machineIds: number[] },
): Promise<FakeHandler> {
  const { clock } = options;
  const mqtt = new MqttAdapter({ url: options.url, clientId: "fake-handler", logger: quiet });
  await mqtt.connect();
  const server = new RpcServer(mqtt, { clock, logger: quiet });
  const bays = new Map<number, MachineState>();
  const holdTimers = new Map<number, TimerHandle>();
  const firstOutcome = new Map<string, Reply<CommandResult>>();
  let version = 0;
  for (const id of options.machineIds) {
    bays.set(id, {
      machine_id: id,
      label: `Bay ${id}`,
      status: "available",
      session: null,
      hold: null,
      ball_level: "full",
      online: true,
      last_seen: clock.now(),
      desired_version: 0,
      acked_version: 0,
      reason: null,
      fault: null,
      updated_at: clock.now(),
    });
  }
  const publish = (m: MachineState) =>
    mqtt.publish(topics.state(m.machine_id), JSON.stringify(m), { qos: 1, retain: true });
  const change = async (id: number, patch: Partial<MachineState>) => {
    const cur = bays.get(id)!;
    version++;
    const next: MachineState = {
      ...cur,
      ...patch,
      desired_version: version,
      acked_version: version,
      updated_at: Math.max(clock.now(), cur.updated_at + 1),
    };
    bays.set(id, next);
    await publish(next);
    return next;
  };
  for (const m of bays.values()) await publish(m);

  const fake: FakeHandler = {
    commands: [],
    mute: false,
    state: (id) => structuredClone(bays.get(id)!),
    put: async (id, patch) => {
      await change(id, patch);
    },
    async stop() {
      for (const t of holdTimers.values()) clock.clearTimeout(t);
      await server.close(100);
      for (const id of bays.keys()) {
        await mqtt.publish(topics.state(id), "", { qos: 1, retain: true });
      }
      await mqtt.close();
    },
  };

  const apply = async (cmd: MachineCommand): Promise<CommandResult> => {
    const bay = bays.get(cmd.machine_id);
    if (!bay) {
      throw new HandlerError("unknown_machine", `There is no bay ${cmd.machine_id} on this hub.`);
    }
    const result = (machine: MachineState): CommandResult => ({
      action: cmd.action,
      machine,
      forced: cmd.force ?? false,
    });
    const busy = () =>
      new HandlerError(
        "conflict",
        `Bay ${bay.machine_id} is ${bay.status}${
          bay.hold ? " for another customer's payment" : ""
        }; choose another bay.`,
      );
    switch (cmd.action) {
      case "hold": {
        if (bay.status !== "available") throw busy();
        const expires_at = clock.now() + cmd.hold_s * 1000;
        holdTimers.set(
          bay.machine_id,
          clock.setTimeout(() => {
            holdTimers.delete(bay.machine_id);
            const cur = bays.get(bay.machine_id)!;
            if (cur.hold?.hold_id === cmd.hold_id) {
              void change(bay.machine_id, { status: "available", hold: null, reason: null });
            }
          }, cmd.hold_s * 1000),
        );
        return result(
          await change(bay.machine_id, {
            status: "reserved",
            hold: { hold_id: cmd.hold_id, origin: cmd.origin, expires_at },
            reason: "payment in progress",
          }),
        );
      }
      case "release": {
        if (bay.hold?.hold_id !== cmd.hold_id) {
          throw new HandlerError("conflict", `Bay ${bay.machine_id} has no hold ${cmd.hold_id}.`);
        }
        clock.clearTimeout(holdTimers.get(bay.machine_id)!);
        return result(
          await change(bay.machine_id, { status: "available", hold: null, reason: null }),
        );
      }
      case "activate": {
        if (cmd.hold_id !== undefined) {
          if (bay.status !== "reserved" || bay.hold?.hold_id !== cmd.hold_id) {
            throw new HandlerError(
              "conflict",
              `The hold on bay ${bay.machine_id} has lapsed or belongs to someone else.`,
            );
          }
          clock.clearTimeout(holdTimers.get(bay.machine_id)!);
        } else if (bay.status !== "available" && !cmd.force) {
          throw busy();
        }
        const now = clock.now();
        return result(
          await change(bay.machine_id, {
            status: "active",
            hold: null,
            reason: null,
            session: {
              session_id: cmd.session_id ?? `s-${crypto.randomUUID()}`,
              origin: cmd.origin,
              started_at: now,
              paid_s: cmd.duration_s,
              paid_until: now + cmd.duration_s * 1000,
              remaining_ms: null,
              amount_cents: cmd.amount_cents ?? 0,
              group_id: cmd.group_id ?? null,
            },
          }),
        );
      }
      case "deactivate":
        if (!bay.session) {
          throw new HandlerError("not_active", `Bay ${bay.machine_id} has no session to end.`);
        }
        return result(await change(bay.machine_id, { status: "available", session: null }));
      case "extend": {
        if (!bay.session?.paid_until) {
          throw new HandlerError("not_active", `Bay ${bay.machine_id} is not running.`);
        }
        const s = bay.session;
        return result(
          await change(bay.machine_id, {
            session: {
              ...s,
              paid_s: s.paid_s + cmd.add_s,
              paid_until: s.paid_until! + cmd.add_s * 1000,
            },
          }),
        );
      }
      case "pause": {
        const s = bay.session;
        if (!s?.paid_until) {
          throw new HandlerError("not_active", `Bay ${bay.machine_id} is not running.`);
        }
        return result(
          await change(bay.machine_id, {
            status: "paused",
            session: {
              ...s,
              paid_until: null,
              remaining_ms: Math.max(0, s.paid_until - clock.now()),
            },
          }),
        );
      }
      case "resume": {
        const s = bay.session;
        if (!s || s.remaining_ms === null) {
          throw new HandlerError("not_paused", `Bay ${bay.machine_id} is not paused.`);
        }
        return result(
          await change(bay.machine_id, {
            status: "active",
            session: { ...s, paid_until: clock.now() + s.remaining_ms, remaining_ms: null },
          }),
        );
      }
      case "maintenance_on":
        if (bay.session && !cmd.force) {
          throw new HandlerError(
            "conflict",
            `Bay ${bay.machine_id} has a running session; end it first or use force.`,
          );
        }
        return result(
          await change(bay.machine_id, {
            status: "maintenance",
            session: null,
            hold: null,
            reason: cmd.reason,
          }),
        );
      case "maintenance_off":
        if (bay.status !== "maintenance") {
          throw new HandlerError("conflict", `Bay ${bay.machine_id} is not in maintenance.`);
        }
        return result(await change(bay.machine_id, { status: "available", reason: null }));
    }
  };

  await server.handle(topics.commands, async (cmd) => {
    if (fake.mute) return new Promise<never>(() => {});
    fake.commands.push(cmd);
    const key = cmd.idempotency_key ? `${cmd.origin}:${cmd.idempotency_key}` : null;
    const seen = key ? firstOutcome.get(key) : undefined;
    if (seen) return new Reply({ ...seen.response, duplicate: true });
    let reply: Reply<CommandResult>;
    try {
      reply = new Reply({ status: "ok", data: await apply(cmd) });
    } catch (err) {
      if (!(err instanceof HandlerError)) throw err;
      reply = new Reply({ status: "error", error: { code: err.code, message: err.message } });
    }
    if (key) firstOutcome.set(key, reply);
    return reply;
  });
  await server.handle(topics.statusRequest, (req) => {
    const ids = req.machine_ids ?? [...bays.keys()];
    return Promise.resolve({
      machines: ids.flatMap((id) => bays.has(id) ? [bays.get(id)!] : []),
    });
  });
  return fake;
}
