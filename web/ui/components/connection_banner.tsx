/**
 * Says when the page is not live: the event stream is reconnecting, or the hub lost its broker.
 *
 * @module
 */
import type { LiveStore } from "../live_store.ts";

export function ConnectionBanner({ live }: { live: LiveStore }) {
  const conn = live.connection.value;
  if (conn === "live" && live.brokerConnected.value) return null;
  const text = conn === "connecting"
    ? "Connecting to the hub…"
    : conn === "reconnecting"
    ? "Connection lost — reconnecting. Bay times shown may be out of date."
    : "The hub lost contact with the bays — reconnecting. Please wait or ask staff.";
  return (
    <div class={`conn-banner conn-banner--${conn}`} role="status" data-connection={conn}>
      <span class="spinner spinner--small" aria-hidden="true" />
      {text}
    </div>
  );
}
