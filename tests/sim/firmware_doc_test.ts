import assert from "node:assert/strict";
import { api, type ApiTopic } from "../../protocol/api.ts";

const doc = new URL("../../docs/firmware.md", import.meta.url);

Deno.test("every example in docs/firmware.md validates against its topic's schema", async () => {
  const md = await Deno.readTextFile(doc);
  const re = /^```json topic=(\S+)\n([\s\S]*?)^```$/gm;
  const topics = new Set<string>();
  for (const m of md.matchAll(re)) {
    const line = md.slice(0, m.index).split("\n").length;
    assert.ok(m[1] in api, `docs/firmware.md:${line}: unknown topic ${m[1]}`);
    const parsed = api[m[1] as ApiTopic].payload.safeParse(JSON.parse(m[2]));
    assert.ok(parsed.success, `docs/firmware.md:${line}: ${parsed.error?.message}`);
    topics.add(m[1]);
  }
  assert.deepEqual([...topics].sort(), [
    "machines/{id}/availability",
    "machines/{id}/heartbeat",
    "machines/{id}/response",
    "machines/{id}/update",
  ]);
});
