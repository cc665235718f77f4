/**
 * HTTP plumbing shared by the routes: the one error shape (`{"error": {code, message, details}}`),
 * the mapping from the handler's error codes to HTTP statuses, zod validation of bodies and
 * queries, and the client key used for rate limits.
 *
 * @module
 */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { z } from "zod";
import type { ErrorCode } from "../protocol/common.ts";
import { InvalidMessageError, RpcClosedError, RpcTimeoutError } from "../lib/errors.ts";
import { MqttError } from "../lib/mqtt_adapter.ts";
import { summarizeIssues } from "../lib/rpc_client.ts";
import { LedgerUnavailableError } from "../actors/machine_handler/queries.ts";

/** Hono environment of the web app: Deno.serve passes the connection info as bindings. */
export type WebEnv = { Bindings: { remoteAddr?: { hostname?: string } } };

/** Error codes of the HTTP API: the handler's codes plus the web node's own. */
export type WebErrorCode =
  | ErrorCode
  | "invalid_request"
  | "not_found"
  | "unauthorized"
  | "csrf_failed"
  | "wrong_password"
  | "locked_out"
  | "wrong_code"
  | "unknown_source"
  | "bad_signature"
  | "stale_timestamp"
  | "event_not_allowed"
  | "unknown_reference"
  | "provider_disabled"
  | "too_many_checkouts"
  | "invalid_state"
  | "report_unavailable";

/** An error the routes throw to answer with a given status, code and message. */
export class WebError extends Error {
  readonly status: ContentfulStatusCode;
  readonly code: WebErrorCode;
  readonly details: unknown;
  readonly headers: Record<string, string>;
  constructor(
    status: ContentfulStatusCode,
    code: WebErrorCode,
    message: string,
    options: ErrorOptions & { details?: unknown; headers?: Record<string, string> } = {},
  ) {
    super(message, options);
    this.name = "WebError";
    this.status = status;
    this.code = code;
    this.details = options.details;
    this.headers = options.headers ?? {};
  }
}

/** HTTP status for each error code of the machine handler. */
export const statusOfCode: Record<ErrorCode, ContentfulStatusCode> = {
  invalid_payload: 400,
  payload_too_large: 413,
  unknown_machine: 404,
  conflict: 409,
  not_active: 409,
  not_paused: 409,
  in_maintenance: 409,
  machine_offline: 409,
  machine_error: 502,
  device_timeout: 504,
  stale_session: 409,
  timeout: 504,
  unavailable: 503,
  internal: 500,
};

export interface ErrorPayload {
  error: { code: WebErrorCode; message: string; details?: unknown };
}

export function errorPayload(code: WebErrorCode, message: string, details?: unknown): ErrorPayload {
  return { error: details === undefined ? { code, message } : { code, message, details } };
}

/** Renders any error as the API's JSON error; unknown errors become 500 `internal`. */
export function errorResponse(c: Context, err: unknown): Response {
  const e = toWebError(err);
  for (const [k, v] of Object.entries(e.headers)) c.header(k, v);
  return c.json(errorPayload(e.code, e.message, e.details), e.status);
}

/** Maps transport failures of a command to HTTP errors; WebErrors pass through. */
export function toWebError(err: unknown): WebError {
  if (err instanceof WebError) return err;
  if (err instanceof RpcTimeoutError) {
    return new WebError(
      504,
      "timeout",
      `The machine handler did not answer within ${err.timeoutMs} ms. The command may still ` +
        "take effect: check the bay's status before trying again (a retry with the same " +
        "idempotency_key is safe).",
      { cause: err },
    );
  }
  if (err instanceof RpcClosedError || err instanceof MqttError) {
    return new WebError(
      503,
      "unavailable",
      "The hub's message broker is not reachable; try again in a moment, or ask staff.",
      { cause: err },
    );
  }
  if (err instanceof LedgerUnavailableError) {
    return new WebError(503, "report_unavailable", `${err.message}. Try again shortly.`, {
      cause: err,
    });
  }
  if (err instanceof InvalidMessageError) {
    return new WebError(400, "invalid_payload", err.message, { cause: err });
  }
  return new WebError(
    500,
    "internal",
    `Internal error: ${err instanceof Error ? err.message : String(err)}`,
    { cause: err },
  );
}

/** Parses the JSON body with `schema`; throws a 400 WebError with every problem listed. */
export async function readBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.infer<S>> {
  let raw: unknown;
  const text = await c.req.text();
  if (text.trim() === "") {
    raw = {};
  } else {
    // JSON only: a cross-site page cannot send application/json without a CORS preflight
    // (which the hub never grants), so form and text/plain posts from elsewhere are refused.
    const type = c.req.header("Content-Type")?.toLowerCase() ?? "";
    if (!type.startsWith("application/json")) {
      throw new WebError(
        415,
        "invalid_request",
        "Send the body as JSON with the header Content-Type: application/json",
      );
    }
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new WebError(
        400,
        "invalid_request",
        `The body is not valid JSON: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }
  return parseWith(schema, raw, "body");
}

/** Parses the query string with `schema` (values are strings). */
export function readQuery<S extends z.ZodType>(c: Context, schema: S): z.infer<S> {
  return parseWith(schema, c.req.query(), "query");
}

function parseWith<S extends z.ZodType>(schema: S, raw: unknown, what: string): z.infer<S> {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    throw new WebError(
      400,
      "invalid_request",
      `Invalid ${what}: ${summarizeIssues(parsed.error)}`,
      {
        cause: parsed.error,
        details: parsed.error.issues.slice(0, 20).map((i) => ({
          path: i.path.map(String),
          message: i.message,
        })),
      },
    );
  }
  return parsed.data;
}

/** The client's address for rate limits (Deno.serve's remoteAddr; "local" in app.request tests). */
export function clientKey(c: { env: unknown }): string {
  const env = c.env as WebEnv["Bindings"] | undefined;
  return env?.remoteAddr?.hostname ?? "local";
}
