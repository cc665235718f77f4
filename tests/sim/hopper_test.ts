import assert from "node:assert/strict";
import { FakeClock } from "../../lib/clock.ts";
import { Hopper, levelOf } from "../../sim/hopper.ts";

Deno.test("levelOf() maps fill percentages to sensor levels at the documented thresholds", () => {
  const cases: Array<[number, string]> = [
    [100, "full"],
    [75, "full"],
    [74.9, "medium"],
    [40, "medium"],
    [39.9, "low"],
    [15, "low"],
    [14.9, "urgent"],
    [0.01, "urgent"],
    [0, "empty"],
  ];
  for (const [fill, level] of cases) assert.equal(levelOf(fill), level, `${fill} %`);
});

Deno.test("Hopper drains only while running, never below 0, and refills to 100", () => {
  const clock = new FakeClock();
  const h = new Hopper(clock, 5);
  clock.advance(60 * 60_000);
  assert.equal(h.fill, 100, "no drain while stopped");
  h.setRunning(true);
  clock.advance(6 * 60_000);
  assert.equal(h.fill, 70);
  h.setRunning(false);
  clock.advance(60 * 60_000);
  assert.equal(h.fill, 70);
  h.setRunning(true);
  clock.advance(60 * 60_000);
  assert.equal(h.fill, 0);
  assert.equal(h.level, "empty");
  h.refill();
  assert.equal(h.level, "full");
  assert.throws(() => new Hopper(clock, -1), RangeError);
  assert.throws(() => new Hopper(clock, Number.NaN), RangeError);
  assert.throws(() => new Hopper(clock, 2, 101), RangeError);
});
