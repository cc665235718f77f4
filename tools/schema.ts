/**
 * `deno task schema`: writes a JSON Schema for every topic's payload into `docs/schemas/` and an
 * AsyncAPI 3 document of all topics into `docs/asyncapi.json`. A test fails when they are stale.
 *
 * @module
 */
import { z } from "zod";
import { api, type ApiTopic } from "../protocol/api.ts";

/** `machines/{id}/update` -> `machines.id.update`. */
export function schemaFileName(topic: string): string {
  return topic.replaceAll(/[{}]/g, "").replaceAll("/", ".") + ".json";
}

function channelId(topic: string): string {
  return topic.replaceAll(/[{}]/g, "").split(/[/_]/).map((p, i) =>
    i === 0 ? p : p.charAt(0).toUpperCase() + p.slice(1)
  ).join("");
}

function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  return z.toJSONSchema(schema, {
    target: "draft-2020-12",
    io: "input",
    unrepresentable: "any",
  }) as Record<string, unknown>;
}

const HUB_NODES = ["machine_handler", "timer", "hub nodes"];

/** Every generated file, path relative to the repository root -> content. */
export function generateSchemaFiles(): Map<string, string> {
  const files = new Map<string, string>();
  const channels: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};
  const messages: Record<string, unknown> = {};
  for (const topic of Object.keys(api) as ApiTopic[]) {
    const spec = api[topic];
    const schema = jsonSchema(spec.payload);
    files.set(
      `docs/schemas/${schemaFileName(topic)}`,
      JSON.stringify({ $id: schemaFileName(topic), title: topic, ...schema }, null, 2) + "\n",
    );
    const id = channelId(topic);
    const parameters: Record<string, unknown> = {};
    if (topic.includes("{id}")) parameters.id = { description: "Machine (bay) id, 1..99999" };
    if (topic.includes("{origin}")) {
      parameters.origin = { description: "Origin node name, e.g. kiosk, admin, webhook, timer" };
    }
    messages[id] = {
      name: id,
      title: topic,
      summary: spec.summary,
      contentType: "application/json",
      payload: schema,
    };
    channels[id] = {
      address: topic,
      description: `${spec.summary}. From ${spec.from} to ${spec.to}.`,
      ...(Object.keys(parameters).length ? { parameters } : {}),
      messages: { [id]: { $ref: `#/components/messages/${id}` } },
    };
    const hubSends = HUB_NODES.includes(spec.from);
    operations[`${hubSends ? "send" : "receive"}${id.charAt(0).toUpperCase()}${id.slice(1)}`] = {
      action: hubSends ? "send" : "receive",
      channel: { $ref: `#/channels/${id}` },
      summary: spec.summary,
      bindings: { mqtt: { qos: spec.qos, retain: spec.retain, bindingVersion: "0.2.0" } },
      messages: [{ $ref: `#/channels/${id}/messages/${id}` }],
    };
  }
  const asyncapi = {
    asyncapi: "3.0.0",
    info: {
      title: "dispenser-hub MQTT API",
      version: "1.0.0",
      description: "Topics between the dispenser hub's nodes and the in-bay ball dispensers. " +
        "Operations are described from the hub's side. See docs/protocol.md.",
    },
    defaultContentType: "application/json",
    servers: {
      range: {
        host: "192.168.4.1:1883",
        protocol: "mqtt",
        protocolVersion: "3.1.1",
        description: "mosquitto on the hub, bound to the range's Ethernet",
      },
    },
    channels,
    operations,
    components: { messages },
  };
  files.set("docs/asyncapi.json", JSON.stringify(asyncapi, null, 2) + "\n");
  return files;
}

if (import.meta.main) {
  const root = new URL("../", import.meta.url);
  await Deno.mkdir(new URL("docs/schemas/", root), { recursive: true });
  for (const [path, content] of generateSchemaFiles()) {
    await Deno.writeTextFile(new URL(path, root), content);
    console.log(`wrote ${path}`);
  }
}
