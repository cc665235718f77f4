/** `coalescingConnection()`: the writes of one event-loop turn leave together, intact and in order. */
import assert from "node:assert/strict";
import { coalescingConnection } from "../../lib/mqtt_adapter.ts";
import { setImmediate } from "node:timers";
import { waitFor } from "../helpers/wait.ts";

/** A loopback TCP server that records every chunk each connection reads. */
function recorder() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const chunks: Uint8Array[] = [];
  let closed = false;
  const accepted = (async () => {
    const conn = await listener.accept();
    const buf = new Uint8Array(65_536);
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
    closed = true;
    conn.close();
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    chunks,
    get closed() {
      return closed;
    },
    text: () => new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c]))),
    async close() {
      listener.close();
      await accepted.catch(() => {});
    },
  };
}

function connected(port: number) {
  const socket = coalescingConnection("127.0.0.1", port);
  return new Promise<typeof socket>((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("error", reject);
  });
}

Deno.test("coalescingConnection() sends the writes of one turn in one go, in order", async () => {
  const server = recorder();
  const socket = await connected(server.port);
  try {
    const parts = Array.from({ length: 50 }, (_, i) => `packet-${i};`);
    for (const p of parts) socket.write(p);
    // Held (corked) until the turn ends, then all sent together.
    assert.ok(socket.writableCorked > 0, "writes of this turn are held");
    assert.equal(server.chunks.length, 0);
    await new Promise((r) => setImmediate(r));
    assert.equal(socket.writableCorked, 0, "released after the turn");
    await waitFor(() => server.text() === parts.join(""), { message: "all 50 writes received" });
    // Writes of a later turn are sent too.
    await new Promise((r) => setTimeout(r, 0));
    socket.write("later;");
    await waitFor(() => server.text().endsWith("later;"), { message: "a later write received" });
  } finally {
    socket.destroy();
    await server.close();
  }
});

Deno.test("coalescingConnection() flushes held writes on end() and sends nothing after destroy()", async () => {
  const server = recorder();
  const socket = await connected(server.port);
  socket.write("held;");
  socket.end("last;");
  await waitFor(() => server.closed, { message: "connection closed by end()" });
  assert.equal(server.text(), "held;last;");
  await server.close();

  const other = recorder();
  const s2 = await connected(other.port);
  s2.write("dropped;");
  s2.destroy();
  await waitFor(() => other.closed, { message: "connection closed by destroy()" });
  assert.equal(other.text(), "");
  await other.close();
});
