/**
 * CPU time of processes from `/proc/{pid}/stat` (user + system, all threads), so a benchmark can
 * report the CPU one operation costs: unlike throughput, that does not depend on what else the
 * machine runs at the time.
 *
 * @module
 */

/** Clock ticks per second of `/proc/{pid}/stat` (`getconf CLK_TCK`; 100 on Linux). */
const CLK_TCK = 100;

/**
 * CPU milliseconds (user + system) used so far by process `pid` (all its threads), or by its
 * thread `tid` alone; NaN where unknown (not Linux, process gone).
 */
export function cpuMs(pid: number, tid?: number): number {
  try {
    const path = tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`;
    const stat = Deno.readTextFileSync(path);
    // Fields after the command name, which is in parentheses and may hold spaces.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) * 1000 / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** A process, or one thread of it. */
export type CpuSource = number | { pid: number; tid: number };

/** CPU milliseconds per process or thread, read at construction and at `read()`. */
export class CpuMeter<K extends string> {
  readonly #pids: Record<K, CpuSource>;
  readonly #start: Record<K, number>;

  constructor(pids: Record<K, CpuSource>) {
    this.#pids = pids;
    this.#start = this.#now();
  }

  #now(): Record<K, number> {
    const out = {} as Record<K, number>;
    for (const k in this.#pids) {
      const s = this.#pids[k];
      out[k] = typeof s === "number" ? cpuMs(s) : cpuMs(s.pid, s.tid);
    }
    return out;
  }

  /** CPU milliseconds each process used since construction. */
  read(): Record<K, number> {
    const now = this.#now();
    const out = {} as Record<K, number>;
    for (const k in this.#pids) out[k] = now[k] - this.#start[k];
    return out;
  }
}
