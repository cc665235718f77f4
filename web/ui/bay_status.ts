/**
 * How a bay is shown: a tone (colour), a short word and whether a customer may pick it. The
 * kiosk folds every kind of trouble into "Out of order"; staff see the precise status.
 *
 * @module
 */
import type { BayView } from "../views.ts";

export type BayTone = "free" | "playing" | "paused" | "reserved" | "down" | "unknown";

export interface BayDisplay {
  tone: BayTone;
  /** One or two words: "Available", "In play", "Out of order". */
  label: string;
  /** Whether a customer can buy time on it now. */
  selectable: boolean;
  /** Whether a running or paused session's countdown belongs on the tile. */
  showsCountdown: boolean;
}

/** The kiosk's view of a bay. */
export function kioskDisplay(bay: BayView): BayDisplay {
  switch (bay.status) {
    case "available":
      return {
        tone: bay.online ? "free" : "down",
        label: bay.online ? "Available" : "Out of order",
        selectable: bay.online,
        showsCountdown: false,
      };
    case "active":
      return { tone: "playing", label: "In play", selectable: false, showsCountdown: true };
    case "paused":
      return { tone: "paused", label: "Paused", selectable: false, showsCountdown: true };
    case "reserved":
      return { tone: "reserved", label: "Reserved", selectable: false, showsCountdown: false };
    case "maintenance":
    case "offline":
    case "error":
      return { tone: "down", label: "Out of order", selectable: false, showsCountdown: false };
    default:
      return { tone: "unknown", label: "Connecting…", selectable: false, showsCountdown: false };
  }
}

const adminLabels: Record<BayView["status"], string> = {
  available: "Available",
  active: "Active",
  paused: "Paused",
  reserved: "Reserved",
  maintenance: "Maintenance",
  offline: "Offline",
  error: "Error",
  unknown: "No report yet",
};

/** The admin portal's view of a bay: the exact status. */
export function adminDisplay(bay: BayView): BayDisplay {
  const k = kioskDisplay(bay);
  return { ...k, label: adminLabels[bay.status], selectable: true };
}

/** Whether staff see a problem with the bay (offline, fault, low balls). */
export function needsAttention(bay: BayView): boolean {
  return bay.status === "error" || bay.status === "offline" || !bay.online ||
    bay.ball_level === "low" || bay.ball_level === "urgent" || bay.ball_level === "empty" ||
    bay.fault !== null;
}
