import assert from "node:assert/strict";
import { ServerClock } from "../../web/ui/server_clock.ts";

Deno.test("ServerClock.sync() corrects a wrong local clock by the server's time", () => {
  let local = 1_000_000;
  const clock = new ServerClock({ localNow: () => local });
  assert.equal(clock.synced.value, false);
  assert.equal(clock.now(), 1_000_000);
  clock.sync(1_090_000); // the kiosk's clock is 90 s behind
  assert.equal(clock.offsetMs.value, 90_000);
  assert.equal(clock.synced.value, true);
  local += 5_000;
  assert.equal(clock.now(), 1_095_000);
  assert.equal(clock.tick.value, 1_090_000);
});

Deno.test("ServerClock.sync() ignores values that are not timestamps", () => {
  const clock = new ServerClock({ localNow: () => 5_000 });
  clock.sync(Number.NaN);
  clock.sync(0);
  clock.sync(-1);
  assert.equal(clock.offsetMs.value, 0);
  assert.equal(clock.synced.value, false);
});

Deno.test("ServerClock ticks while started and stops cleanly", async () => {
  let local = 0;
  const clock = new ServerClock({ localNow: () => local, tickMs: 5 });
  clock.start();
  local = 42_000;
  const seen = await new Promise<number>((resolve) => {
    const stop = clock.tick.subscribe((v) => {
      if (v === 42_000) {
        queueMicrotask(() => stop());
        resolve(v);
      }
    });
  });
  clock.stop();
  assert.equal(seen, 42_000);
  assert.throws(() => new ServerClock({ tickMs: 0 }), RangeError);
});
