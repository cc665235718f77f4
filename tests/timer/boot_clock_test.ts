import assert from "node:assert/strict";
import { createSystemBootClock, FakeBootClock } from "../../lib/boot_clock.ts";
import { FakeClock } from "../../lib/clock.ts";

Deno.test("createSystemBootClock() reads the boot id and tracks /proc/uptime to the millisecond", () => {
  let uptimeS: number;
  try {
    uptimeS = Number(Deno.readTextFileSync("/proc/uptime").split(" ")[0]);
  } catch {
    const c = createSystemBootClock();
    assert.equal(c.bootId(), null, "without /proc the boot id is unknown");
    return;
  }
  const boot = createSystemBootClock();
  assert.equal(boot.bootId(), Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim());
  const a = boot.sinceBootMs();
  const procMs = Number(Deno.readTextFileSync("/proc/uptime").split(" ")[0]) * 1000;
  // /proc/uptime is truncated to 10 ms: the boot clock is within that tick of it.
  assert.ok(a - procMs >= -2 && a - procMs <= 12, `boot clock ${a} vs /proc/uptime ${procMs}`);
  assert.ok(procMs >= uptimeS * 1000);
  // Calibrated at the edges of the 10 ms tick: two boot clocks agree within a tick even while
  // the other tests load both cores (typically within 1 ms).
  const other = createSystemBootClock();
  const diff = Math.abs(other.sinceBootMs() - boot.sinceBootMs());
  assert.ok(diff < 10, `two calibrations differ by ${diff} ms`);
  assert.ok(boot.sinceBootMs() >= a);
  const synced = boot.wallSynced();
  assert.ok(synced === null || typeof synced === "boolean");
});

Deno.test("FakeBootClock moves with its clock and reports the sync flag it is given", () => {
  const clock = new FakeClock(Date.UTC(2026, 0, 1), 500);
  const boot = new FakeBootClock(clock, "b", 10_000, false);
  assert.equal(boot.sinceBootMs(), 10_500);
  clock.advance(250);
  clock.jumpWall(-3_600_000);
  assert.equal(boot.sinceBootMs(), 10_750, "wall jumps do not move the boot clock");
  assert.equal(boot.wallSynced(), false);
  boot.synced = true;
  assert.equal(boot.wallSynced(), true);
  assert.equal(boot.bootId(), "b");
});
