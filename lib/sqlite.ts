/**
 * The one way the hub opens a SQLite database it writes: Deno's built-in `node:sqlite` (no native
 * addon), write-ahead log, `synchronous = FULL`, so a commit survives a kill -9 and a power cut.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { dirname } from "node:path";

/** Opens (creating the file and its folder if needed) a database for durable writes. */
export function openDurableDatabase(path: string): DatabaseSync {
  Deno.mkdirSync(dirname(path), { recursive: true });
  const db = new DatabaseSync(path);
  try {
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = FULL");
    db.exec("PRAGMA busy_timeout = 5000");
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}
