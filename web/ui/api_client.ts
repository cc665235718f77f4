/**
 * The pages' fetch wrapper: JSON in and out, the admin session's CSRF token on every unsafe
 * request, and every failure turned into an {@linkcode ApiError} whose message a person can act
 * on (the server's `{"error": {code, message}}`, or what to check when the hub is unreachable).
 *
 * @module
 */

/** Header that carries the CSRF token (same name as the server's `CSRF_HEADER`). */
export const CSRF_HEADER = "X-CSRF-Token";

/** A request failed; `message` says what happened and, where possible, what to do next. */
export class ApiError extends Error {
  /** HTTP status, or 0 when the server was not reached. */
  readonly status: number;
  /** The server's error code (`conflict`, `unauthorized`, ...), or `network` / `bad_response`. */
  readonly code: string;
  readonly details: unknown;
  /** The whole JSON body of the error answer (some carry more, e.g. the checkout). */
  readonly body: unknown;
  constructor(
    status: number,
    code: string,
    message: string,
    options: ErrorOptions & { details?: unknown; body?: unknown } = {},
  ) {
    super(message, options);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = options.details;
    this.body = options.body;
  }
}

export interface ApiClientOptions {
  /** Prefix of every path, e.g. `""` (same origin) or `http://127.0.0.1:8080`. */
  base?: string;
  fetch?: typeof fetch;
  /** Called with every 401 (e.g. to show the login form again). */
  onUnauthorized?: (err: ApiError) => void;
  /** Milliseconds before a request is given up. */
  timeoutMs?: number;
}

type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export class ApiClient {
  /** The admin session's CSRF token; sent on every request but GET when set. */
  csrfToken: string | null = null;
  readonly #base: string;
  readonly #fetch: typeof fetch;
  readonly #onUnauthorized: ((err: ApiError) => void) | undefined;
  readonly #timeoutMs: number;

  constructor(options: ApiClientOptions = {}) {
    this.#base = options.base ?? "";
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#onUnauthorized = options.onUnauthorized;
    this.#timeoutMs = options.timeoutMs ?? 15_000;
    if (!(this.#timeoutMs > 0)) throw new RangeError(`timeoutMs must be positive`);
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>("GET", path);
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>("POST", path, body);
  }

  put<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>("PUT", path, body);
  }

  delete<T>(path: string): Promise<T> {
    return this.request<T>("DELETE", path);
  }

  /** Sends one request; resolves to the parsed JSON body (null for an empty body). */
  async request<T>(method: Method, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET" && this.csrfToken) headers[CSRF_HEADER] = this.csrfToken;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.#timeoutMs);
    let res: Response;
    try {
      res = await this.#fetch(this.#base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
        signal: controller.signal,
      });
    } catch (err) {
      clearTimeout(timer);
      const timedOut = controller.signal.aborted;
      throw new ApiError(
        0,
        "network",
        timedOut
          ? `The hub did not answer within ${
            this.#timeoutMs >= 1000
              ? `${Math.round(this.#timeoutMs / 1000)} s`
              : `${this.#timeoutMs} ms`
          }. ` +
            "Check the status shown on screen before trying again."
          : "Cannot reach the hub. Check that this screen is connected to the range network, " +
            "then try again.",
        { cause: err },
      );
    }
    let text: string;
    try {
      text = await res.text();
    } finally {
      clearTimeout(timer);
    }
    const json = parseJson(text);
    if (res.ok) {
      if (text !== "" && json === undefined) {
        throw new ApiError(
          res.status,
          "bad_response",
          `The hub sent an unreadable answer to ${method} ${path}; try again, or ask staff.`,
        );
      }
      return (json ?? null) as T;
    }
    const err = errorFrom(res.status, json, method, path);
    if (res.status === 401) this.#onUnauthorized?.(err);
    throw err;
  }
}

function parseJson(text: string): unknown {
  if (text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

interface ErrorShape {
  error: { code?: unknown; message?: unknown; details?: unknown };
}

function isErrorShape(v: unknown): v is ErrorShape {
  return typeof v === "object" && v !== null && "error" in v &&
    typeof (v as ErrorShape).error === "object" && (v as ErrorShape).error !== null;
}

/** Builds the ApiError of a non-2xx answer. */
export function errorFrom(status: number, json: unknown, method: string, path: string): ApiError {
  if (isErrorShape(json)) {
    const { code, message, details } = json.error;
    const text = typeof message === "string" && message !== ""
      ? message
      : fallbackMessage(status, method, path);
    return new ApiError(status, typeof code === "string" ? code : `http_${status}`, text, {
      details,
      body: json,
    });
  }
  return new ApiError(status, `http_${status}`, fallbackMessage(status, method, path));
}

function fallbackMessage(status: number, method: string, path: string): string {
  if (status === 401) return "Please sign in again.";
  if (status === 403) return "This action is not allowed from this screen.";
  if (status === 404) return `Not found: ${method} ${path}. Reload the page.`;
  if (status === 429) return "Too many attempts. Wait a minute, then try again.";
  if (status >= 500) {
    return `The hub had a problem (HTTP ${status}). Try again in a moment; if it keeps ` +
      "happening, ask staff.";
  }
  return `The request was refused (HTTP ${status}).`;
}
