import type { Logger } from "../../lib/log.ts";

const noop = () => {};
/** A logger that drops everything (tests assert on behaviour, not on log lines). */
export const quiet: Logger = {
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  child: () => quiet,
};
