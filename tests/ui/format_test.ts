import assert from "node:assert/strict";
import {
  formatCountdown,
  formatDuration,
  formatMoney,
  sessionRemainingMs,
  untilMs,
} from "../../web/ui/format.ts";
import type { Session } from "../../protocol/machine.ts";

const running: Session = {
  session_id: "s1",
  origin: "kiosk",
  started_at: 1_000_000,
  paid_s: 1800,
  paid_until: 1_000_000 + 1_800_000,
  remaining_ms: null,
  amount_cents: 800,
  group_id: null,
};

Deno.test("formatCountdown() rounds seconds up and switches to hours from 60 minutes", () => {
  assert.equal(formatCountdown(0), "0:00");
  assert.equal(formatCountdown(1), "0:01");
  assert.equal(formatCountdown(59_001), "1:00");
  assert.equal(formatCountdown(61_000), "1:01");
  assert.equal(formatCountdown(3_599_000), "59:59");
  assert.equal(formatCountdown(3_600_000), "1:00:00");
  assert.equal(formatCountdown(5_405_000), "1:30:05");
  assert.equal(formatCountdown(-5), "0:00");
  assert.equal(formatCountdown(Number.NaN), "0:00");
});

Deno.test("sessionRemainingMs() counts down to paid_until in server time", () => {
  assert.equal(sessionRemainingMs(running, running.started_at), 1_800_000);
  assert.equal(sessionRemainingMs(running, running.started_at + 60_000), 1_740_000);
  assert.equal(sessionRemainingMs(running, running.paid_until! + 5_000), 0);
  assert.equal(sessionRemainingMs(null, 0), null);
});

Deno.test("sessionRemainingMs() never shows more than was paid", () => {
  // The page's estimate of the server's time trails it slightly.
  assert.equal(sessionRemainingMs(running, running.started_at - 40), 1_800_000);
  assert.equal(formatCountdown(sessionRemainingMs(running, running.started_at - 40)!), "30:00");
});

Deno.test("sessionRemainingMs() keeps a paused session's remaining time", () => {
  const paused = { ...running, paid_until: null, remaining_ms: 90_000 };
  assert.equal(sessionRemainingMs(paused, 0), 90_000);
  assert.equal(sessionRemainingMs(paused, 10 ** 13), 90_000);
  assert.equal(sessionRemainingMs({ ...paused, remaining_ms: null }, 0), null);
});

Deno.test("untilMs() never goes below zero", () => {
  assert.equal(untilMs(10_000, 4_000), 6_000);
  assert.equal(untilMs(10_000, 14_000), 0);
  assert.equal(untilMs(10_000, 4_000, 5_000), 5_000);
});

Deno.test("formatDuration() words minutes and hours", () => {
  assert.equal(formatDuration(30), "30 s");
  assert.equal(formatDuration(1800), "30 min");
  assert.equal(formatDuration(3600), "1 h");
  assert.equal(formatDuration(5400), "1 h 30 min");
});

Deno.test("formatMoney() formats cents in the currency, and survives unknown codes", () => {
  assert.equal(formatMoney(1400, "EUR"), "€14.00");
  assert.equal(formatMoney(850, "GBP"), "£8.50");
  assert.match(formatMoney(1234, "XYZ"), /12\.34/);
  assert.equal(formatMoney(100, "not a code"), "1.00 not a code");
});
