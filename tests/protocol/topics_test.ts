import assert from "node:assert/strict";
import {
  parseMachineTopic,
  parseOriginResponsesTopic,
  TopicError,
  topicMatches,
  topics,
} from "../../protocol/topics.ts";

Deno.test("topics builds the seed's topics", () => {
  assert.equal(topics.commands, "machines/commands");
  assert.equal(topics.update(17), "machines/17/update");
  assert.equal(topics.deviceResponse(17), "machines/17/response");
  assert.equal(topics.originResponses("kiosk"), "machines/responses/kiosk");
  assert.equal(topics.statusRequest, "machines/status/request");
  assert.equal(topics.statusResponse, "machines/status/response");
  assert.equal(topics.timerSet, "timer/set");
  assert.equal(topics.timerSetBatch, "timer/set_batch");
  assert.equal(topics.timerExpired, "timer/expired");
  assert.equal(topics.allMachines("heartbeat"), "machines/+/heartbeat");
});

Deno.test("topics refuses invalid ids and node names with TopicError", () => {
  assert.throws(() => topics.update(0), TopicError);
  assert.throws(() => topics.update(1.5), TopicError);
  assert.throws(() => topics.originResponses("a/b"), TopicError);
  assert.throws(() => topics.originResponses("#"), TopicError);
  assert.ok(new TopicError("x") instanceof RangeError);
});

Deno.test("parseMachineTopic() extracts the machine id and kind", () => {
  assert.deepEqual(parseMachineTopic("machines/17/update"), { machine_id: 17, kind: "update" });
  assert.deepEqual(parseMachineTopic("machines/3/heartbeat"), { machine_id: 3, kind: "heartbeat" });
  assert.equal(parseMachineTopic("machines/status/request"), null);
  assert.equal(parseMachineTopic("machines/responses/kiosk"), null);
  assert.equal(parseMachineTopic("machines/017/update"), null);
  assert.equal(parseMachineTopic("machines/17/explode"), null);
  assert.equal(parseMachineTopic("machines/17/update/x"), null);
});

Deno.test("parseOriginResponsesTopic() returns the origin", () => {
  assert.equal(parseOriginResponsesTopic("machines/responses/kiosk"), "kiosk");
  assert.equal(parseOriginResponsesTopic("machines/responses/Bad Name"), null);
  assert.equal(parseOriginResponsesTopic("machines/commands"), null);
});

Deno.test("topicMatches() implements + and #", () => {
  assert.ok(topicMatches("machines/+/update", "machines/4/update"));
  assert.ok(!topicMatches("machines/+/update", "machines/4/response"));
  assert.ok(topicMatches("machines/#", "machines/4/update"));
  assert.ok(topicMatches("#", "a/b/c"));
  assert.ok(!topicMatches("machines/+", "machines/4/update"));
  assert.ok(topicMatches("timer/set", "timer/set"));
});
