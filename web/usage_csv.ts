/**
 * The usage report as CSV (RFC 4180, CRLF line ends): one line per bay per day with sessions,
 * paid minutes, minutes used and the amount taken.
 *
 * @module
 */
import type { HubConfig } from "../lib/config.ts";
import { machineLabel } from "../lib/config.ts";
import type { UsageRow } from "./ledger.ts";

export const USAGE_COLUMNS = [
  "date",
  "machine_id",
  "label",
  "sessions",
  "paid_minutes",
  "used_minutes",
  "amount_cents",
  "amount",
  "currency",
] as const;

/** Quotes a CSV field when needed; neutralises spreadsheet formulas (=, +, -, @). */
export function csvField(value: string | number): string {
  let s = String(value);
  if (typeof value === "string" && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export function usageCsv(rows: UsageRow[], config: HubConfig): string {
  const labels = new Map(config.machines.map((m) => [m.id, machineLabel(m)]));
  const currency = config.web.currency;
  const lines = [USAGE_COLUMNS.join(",")];
  const sorted = [...rows].sort((a, b) =>
    a.day < b.day ? -1 : a.day > b.day ? 1 : a.machine_id - b.machine_id
  );
  for (const r of sorted) {
    lines.push([
      csvField(r.day),
      csvField(r.machine_id),
      csvField(labels.get(r.machine_id) ?? `Bay ${r.machine_id}`),
      csvField(r.sessions),
      csvField(r.minutes),
      csvField(r.used_minutes),
      csvField(r.amount_cents),
      csvField((r.amount_cents / 100).toFixed(2)),
      csvField(currency),
    ].join(","));
  }
  return lines.join("\r\n") + "\r\n";
}
