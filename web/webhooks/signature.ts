/**
 * The webhook signing scheme (see docs/webhooks.md): the sender computes
 * `HMAC-SHA256(secret, "{timestamp}.{raw body}")` and sends it as
 * `X-Hub-Signature: sha256=<lowercase hex>` with `X-Hub-Timestamp: <unix seconds>`. The hub
 * accepts at most 5 minutes of clock skew either way and compares in constant time.
 *
 * @module
 */
import { timingSafeEqual } from "../auth/password.ts";
import { decodeHex, encodeHex } from "../encoding.ts";

export const TIMESTAMP_HEADER = "X-Hub-Timestamp";
export const SIGNATURE_HEADER = "X-Hub-Signature";
export const EVENT_ID_HEADER = "X-Hub-Event-Id";
export const MAX_SKEW_MS = 5 * 60_000;

const encoder = new TextEncoder();

async function hmac(secret: string, timestamp: string, body: Uint8Array): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const prefix = encoder.encode(`${timestamp}.`);
  const message = new Uint8Array(prefix.length + body.length);
  message.set(prefix);
  message.set(body, prefix.length);
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, message));
}

/** The `X-Hub-Signature` value for `body` sent at `timestamp` (unix seconds, as a string). */
export async function signWebhook(
  secret: string,
  timestamp: string,
  body: Uint8Array | string,
): Promise<string> {
  const bytes = typeof body === "string" ? encoder.encode(body) : body;
  return `sha256=${encodeHex(await hmac(secret, timestamp, bytes))}`;
}

export type VerifyResult =
  | { ok: true; timestampMs: number }
  | { ok: false; reason: "missing" | "malformed" | "stale" | "mismatch"; message: string };

/** Checks the headers of one delivery against the source's secret at wall-clock `nowMs`. */
export async function verifyWebhook(input: {
  secret: string;
  timestamp: string | undefined;
  signature: string | undefined;
  body: Uint8Array;
  nowMs: number;
  maxSkewMs?: number;
}): Promise<VerifyResult> {
  const { timestamp, signature } = input;
  if (!timestamp || !signature) {
    return {
      ok: false,
      reason: "missing",
      message: `Missing ${!timestamp ? TIMESTAMP_HEADER : SIGNATURE_HEADER} header`,
    };
  }
  if (!/^[0-9]{1,12}$/.test(timestamp)) {
    return {
      ok: false,
      reason: "malformed",
      message: `${TIMESTAMP_HEADER} must be whole unix seconds, e.g. 1767441600`,
    };
  }
  const m = /^sha256=([0-9a-fA-F]{64})$/.exec(signature.trim());
  if (!m) {
    return {
      ok: false,
      reason: "malformed",
      message: `${SIGNATURE_HEADER} must be 'sha256=' followed by 64 hex digits`,
    };
  }
  const timestampMs = Number(timestamp) * 1000;
  const skew = Math.abs(input.nowMs - timestampMs);
  if (skew > (input.maxSkewMs ?? MAX_SKEW_MS)) {
    return {
      ok: false,
      reason: "stale",
      message: `${TIMESTAMP_HEADER} is ${Math.round(skew / 1000)} s away from the hub's clock ` +
        "(at most 300 s allowed); check the sender's clock, or this is an old delivery",
    };
  }
  const expected = await hmac(input.secret, timestamp, input.body);
  if (!timingSafeEqual(decodeHex(m[1]), expected)) {
    return {
      ok: false,
      reason: "mismatch",
      message: "Signature does not match: sign '{timestamp}.{raw body}' with this source's secret",
    };
  }
  return { ok: true, timestampMs };
}
