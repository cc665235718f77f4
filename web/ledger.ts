/**
 * What the web node reads from the machine handler's ledger (read-only, through the handler's
 * `queries.ts`): the command ledger with filters and the usage report. Also turns report days
 * (`YYYY-MM-DD`, both included) into the reader's time range, in the hub's local time zone, the
 * same zone the reader uses for day boundaries.
 *
 * @module
 */
export type {
  LedgerEntry,
  LedgerQuery,
  LedgerReader,
  UsageRow,
} from "../actors/machine_handler/queries.ts";
export { LedgerUnavailableError } from "../actors/machine_handler/queries.ts";

/** `[start of from, start of the day after to)` in local time, as epoch milliseconds. */
export function dayRange(from: string, to: string): { fromMs: number; toMs: number } {
  const [fy, fm, fd] = from.split("-").map(Number);
  const [ty, tm, td] = to.split("-").map(Number);
  return {
    fromMs: new Date(fy, fm - 1, fd).getTime(),
    toMs: new Date(ty, tm - 1, td + 1).getTime(),
  };
}
