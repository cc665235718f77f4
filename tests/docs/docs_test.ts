import assert from "node:assert/strict";
import { api, type ApiTopic } from "../../protocol/api.ts";
import { generateSchemaFiles } from "../../tools/schema.ts";

const root = new URL("../../", import.meta.url);

Deno.test("generated JSON Schema and AsyncAPI files are up to date (run `deno task schema`)", async () => {
  const files = generateSchemaFiles();
  assert.ok(files.size >= Object.keys(api).length + 1);
  for (const [path, content] of files) {
    let onDisk: string;
    try {
      onDisk = await Deno.readTextFile(new URL(path, root));
    } catch {
      assert.fail(`${path} is missing: run \`deno task schema\``);
    }
    assert.equal(onDisk, content, `${path} is stale: run \`deno task schema\``);
  }
  const asyncapi = JSON.parse(files.get("docs/asyncapi.json")!);
  assert.equal(asyncapi.asyncapi, "3.0.0");
  const addresses = Object.values(asyncapi.channels as Record<string, { address: string }>)
    .map((c) => c.address).sort();
  assert.deepEqual(addresses, Object.keys(api).sort());
});

/** Fenced blocks written as ```json topic=TOPIC in a Markdown file. */
export function examples(markdown: string): Array<{ topic: string; json: string; line: number }> {
  const out: Array<{ topic: string; json: string; line: number }> = [];
  const re = /^```json topic=(\S+)\n([\s\S]*?)^```$/gm;
  for (const m of markdown.matchAll(re)) {
    out.push({ topic: m[1], json: m[2], line: markdown.slice(0, m.index).split("\n").length });
  }
  return out;
}

Deno.test("every example in docs/protocol.md validates against its topic's schema", async () => {
  const md = await Deno.readTextFile(new URL("docs/protocol.md", root));
  const found = examples(md);
  const covered = new Set<string>();
  for (const ex of found) {
    assert.ok(ex.topic in api, `docs/protocol.md:${ex.line}: unknown topic ${ex.topic}`);
    const schema = api[ex.topic as ApiTopic].payload;
    const parsed = schema.safeParse(JSON.parse(ex.json));
    assert.ok(
      parsed.success,
      `docs/protocol.md:${ex.line} (${ex.topic}): ${parsed.success ? "" : parsed.error.message}`,
    );
    covered.add(ex.topic);
  }
  const missing = Object.keys(api).filter((t) => !covered.has(t));
  assert.deepEqual(missing, [], `topics without an example in docs/protocol.md: ${missing}`);
});

Deno.test("examples() finds fenced JSON blocks and their topics", () => {
  const md = 'x\n```json topic=a/b\n{"k": 1}\n```\ntext\n```json\n{}\n```\n';
  assert.deepEqual(examples(md), [{ topic: "a/b", json: '{"k": 1}\n', line: 2 }]);
});
