/**
 * The store's writer thread: it owns the write connection of `machine_handler.db` and commits
 * each batch it is sent in one transaction (WAL, `synchronous=FULL`). The fsync happens here, so
 * the handler's event loop keeps taking messages from the dispensers and origins meanwhile, and
 * whatever arrives during one commit goes into the next (group commit).
 *
 * @module
 */
/// <reference lib="deno.worker" />
import type { DatabaseSync, StatementSync } from "node:sqlite";
import { openDurableDatabase } from "../../lib/sqlite.ts";
import { type SqlValue, WRITE_SQL, type WriteKind, type WriteOp } from "./schema.ts";

export type WriterRequest =
  | { type: "open"; path: string }
  | { type: "commit"; id: number; ops: WriteOp[] }
  | { type: "close" };

export type WriterReply =
  | { type: "ready" }
  | { type: "done"; id: number; ms: number }
  | { type: "failed"; id: number | null; message: string }
  | { type: "closed" };

let db: DatabaseSync | null = null;
let stmts: Record<WriteKind, StatementSync> | null = null;
const post = (m: WriterReply) => self.postMessage(m);

self.onmessage = (ev: MessageEvent<WriterRequest>) => {
  const m = ev.data;
  switch (m.type) {
    case "open":
      try {
        db = openDurableDatabase(m.path);
        const s = {} as Record<WriteKind, StatementSync>;
        for (const k of Object.keys(WRITE_SQL) as WriteKind[]) s[k] = db.prepare(WRITE_SQL[k]);
        stmts = s;
        post({ type: "ready" });
      } catch (err) {
        post({ type: "failed", id: null, message: String(err) });
      }
      break;
    case "commit": {
      const t0 = performance.now();
      try {
        if (!db || !stmts) throw new Error("the writer is not open");
        db.exec("BEGIN IMMEDIATE");
        try {
          for (const op of m.ops) stmts[op.t].run(...(op.args as SqlValue[]));
          db.exec("COMMIT");
        } catch (err) {
          db.exec("ROLLBACK");
          throw err;
        }
        post({ type: "done", id: m.id, ms: performance.now() - t0 });
      } catch (err) {
        post({ type: "failed", id: m.id, message: String(err) });
      }
      break;
    }
    case "close":
      db?.close();
      db = null;
      post({ type: "closed" });
      self.close();
      break;
  }
};
