/**
 * Helpers shared by the route modules.
 *
 * @module
 */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { HubConfig, MachineConfig } from "../../lib/config.ts";
import type { ResponseOf } from "../../protocol/common.ts";
import type { CommandResult } from "../../protocol/command.ts";
import type { WebDeps } from "../app.ts";
import { errorPayload, statusOfCode } from "../http.ts";
import { type BayView, bayView } from "../views.ts";

export function machineConfigs(config: HubConfig): Map<number, MachineConfig> {
  return new Map(config.machines.map((m) => [m.id, m]));
}

/** The JSON of a successful command: what was done and the bay as it now stands. */
export interface CommandOutcome {
  action: CommandResult["action"];
  forced: boolean;
  duplicate: boolean;
  machine: BayView;
}

/** The handler's reply as an HTTP status and JSON body. */
export function commandOutcome(
  deps: WebDeps,
  res: ResponseOf<CommandResult>,
): { status: ContentfulStatusCode; body: Record<string, unknown> } {
  if (res.status === "ok") {
    const m = res.data.machine;
    const body: CommandOutcome = {
      action: res.data.action,
      forced: res.data.forced,
      duplicate: res.duplicate ?? false,
      machine: bayView(
        m.machine_id,
        m,
        deps.config.machines.find((x) => x.id === m.machine_id),
        deps.clock.now(),
      ),
    };
    return { status: 200, body: { ...body } };
  }
  return {
    status: statusOfCode[res.error.code],
    body: {
      ...errorPayload(res.error.code, res.error.message, res.error.details),
      duplicate: res.duplicate ?? false,
    },
  };
}

/**
 * Answers with the handler's outcome: 200 and the bay, or the handler's refusal with its code,
 * its message and the HTTP status of that code.
 */
export function commandResponse(
  c: Context,
  deps: WebDeps,
  res: ResponseOf<CommandResult>,
): Response {
  const o = commandOutcome(deps, res);
  return c.json(o.body, o.status);
}
