/**
 * Random idempotency keys. `crypto.randomUUID()` exists only in secure contexts, and the hub's
 * pages are served over plain HTTP on the range network, so keys come from `getRandomValues`.
 *
 * @module
 */

/** A random key like `k_3f9c...` (128 bits, hex). */
export function randomKey(prefix = "k"): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let hex = "";
  for (const b of bytes) hex += b.toString(16).padStart(2, "0");
  return `${prefix}_${hex}`;
}
