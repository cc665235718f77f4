import assert from "node:assert/strict";
import { FakeClock } from "../../lib/clock.ts";

Deno.test("FakeClock.advance() runs due timers in order and moves both clocks", () => {
  const c = new FakeClock(1_000_000, 0);
  const fired: string[] = [];
  c.setTimeout(() => fired.push("b"), 200);
  c.setTimeout(() => fired.push("a"), 100);
  const h = c.setTimeout(() => fired.push("never"), 150);
  c.setTimeout(() => fired.push("a2"), 100);
  c.clearTimeout(h);
  c.advance(99);
  assert.deepEqual(fired, []);
  c.advance(101);
  assert.deepEqual(fired, ["a", "a2", "b"]);
  assert.equal(c.monotonic(), 200);
  assert.equal(c.now(), 1_000_200);
  assert.throws(() => c.advance(-1), RangeError);
});

Deno.test("FakeClock.advance() runs timers scheduled by timers", () => {
  const c = new FakeClock();
  const at: number[] = [];
  c.setTimeout(() => {
    at.push(c.monotonic());
    c.setTimeout(() => at.push(c.monotonic()), 50);
  }, 50);
  const start = c.monotonic();
  c.advance(100);
  assert.deepEqual(at, [start + 50, start + 100]);
});

Deno.test("FakeClock.jumpWall() moves wall time only", () => {
  const c = new FakeClock(1_000_000, 0);
  c.jumpWall(-3_600_000);
  assert.equal(c.now(), 1_000_000 - 3_600_000);
  assert.equal(c.monotonic(), 0);
});
