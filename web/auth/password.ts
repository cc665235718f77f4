/**
 * Password and code hashing with PBKDF2-HMAC-SHA256 through WebCrypto. The stored form is
 * `pbkdf2-sha256$<iterations>$<salt, base64url>$<32-byte hash, base64url>`, as printed by
 * `main.ts hash-password`, so the cost can be raised later without breaking old hashes.
 *
 * @module
 */
import { decodeBase64Url, encodeBase64Url } from "../encoding.ts";

/** OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256. */
export const DEFAULT_ITERATIONS = 600_000;
export const MIN_ITERATIONS = 1_000;
export const MAX_ITERATIONS = 10_000_000;

/** A stored hash is not in the `pbkdf2-sha256$...` form. */
export class PasswordHashError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PasswordHashError";
  }
}

const encoder = new TextEncoder();

async function derive(password: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(password), "PBKDF2", false, [
    "deriveBits",
  ]);
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt: salt as BufferSource, iterations },
    key,
    256,
  );
  return new Uint8Array(bits);
}

/** Hashes `password` with a fresh 16-byte salt. */
export async function hashPassword(
  password: string,
  { iterations = DEFAULT_ITERATIONS }: { iterations?: number } = {},
): Promise<string> {
  if (!Number.isInteger(iterations) || iterations < MIN_ITERATIONS || iterations > MAX_ITERATIONS) {
    throw new RangeError(
      `iterations must be an integer from ${MIN_ITERATIONS} to ${MAX_ITERATIONS}, got ${iterations}`,
    );
  }
  if (password.length === 0) throw new RangeError("The password must not be empty");
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const hash = await derive(password, salt, iterations);
  return `pbkdf2-sha256$${iterations}$${encodeBase64Url(salt)}$${encodeBase64Url(hash)}`;
}

interface ParsedHash {
  iterations: number;
  salt: Uint8Array;
  hash: Uint8Array;
}

/** Parses a stored hash; throws {@linkcode PasswordHashError} when it is malformed. */
export function parsePasswordHash(stored: string): ParsedHash {
  const parts = stored.split("$");
  if (parts.length !== 4 || parts[0] !== "pbkdf2-sha256") {
    throw new PasswordHashError(
      "Not a pbkdf2-sha256 hash; produce one with 'main.ts hash-password'",
    );
  }
  const iterations = Number(parts[1]);
  if (!Number.isInteger(iterations) || iterations < MIN_ITERATIONS || iterations > MAX_ITERATIONS) {
    throw new PasswordHashError(`Hash has an invalid iteration count: ${parts[1]}`);
  }
  try {
    const salt = decodeBase64Url(parts[2]);
    const hash = decodeBase64Url(parts[3]);
    if (hash.length !== 32) throw new Error(`hash is ${hash.length} bytes, expected 32`);
    return { iterations, salt, hash };
  } catch (err) {
    throw new PasswordHashError(`Hash is not valid base64url: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** True when `password` matches `stored`; the comparison takes constant time. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const { iterations, salt, hash } = parsePasswordHash(stored);
  const candidate = await derive(password, salt, iterations);
  return timingSafeEqual(candidate, hash);
}

/** Compares two byte arrays in time that depends only on their lengths. */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}
