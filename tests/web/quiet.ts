/** A logger that drops everything (tests assert on behaviour, not on log lines). */
export { silentLogger as quiet } from "../../lib/log.ts";
