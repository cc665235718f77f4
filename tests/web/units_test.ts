import assert from "node:assert/strict";
import { FakeClock } from "../../lib/clock.ts";
import { parseConfig } from "../../lib/config.ts";
import { FailureLimiter } from "../../web/auth/failure_limiter.ts";
import {
  hashPassword,
  parsePasswordHash,
  PasswordHashError,
  timingSafeEqual,
  verifyPassword,
} from "../../web/auth/password.ts";
import { dayRange } from "../../web/ledger.ts";
import { Histogram } from "../../web/metrics.ts";
import { csvField, usageCsv } from "../../web/usage_csv.ts";
import { bayViews, remainingSeconds } from "../../web/views.ts";
import { signWebhook, verifyWebhook } from "../../web/webhooks/signature.ts";

Deno.test("hashPassword() output verifies, is salted, and matches the config format", async () => {
  const a = await hashPassword("s3cret pass", { iterations: 1000 });
  const b = await hashPassword("s3cret pass", { iterations: 1000 });
  assert.notEqual(a, b);
  assert.equal(await verifyPassword("s3cret pass", a), true);
  assert.equal(await verifyPassword("s3cret pasS", a), false);
  assert.equal(await verifyPassword("", a), false);
  assert.equal(parsePasswordHash(a).iterations, 1000);
  // The config accepts exactly this format.
  const cfg = parseConfig({ web: { admin_password_hash: a } });
  assert.equal(cfg.web.admin_password_hash, a);
  assert.throws(() => parseConfig({ web: { admin_password_hash: "plaintext" } }), /hash-password/);
  assert.throws(() => parsePasswordHash("md5$x"), PasswordHashError);
  await assert.rejects(() => hashPassword("x", { iterations: 10 }), RangeError);
  await assert.rejects(() => hashPassword(""), RangeError);
});

Deno.test("timingSafeEqual() compares bytes and lengths", () => {
  assert.equal(timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2])), true);
  assert.equal(timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3])), false);
  assert.equal(timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2, 0])), false);
});

Deno.test("FailureLimiter locks after maxFailures, doubles the lock, and forgets on success", () => {
  const clock = new FakeClock();
  const l = new FailureLimiter({ clock, maxFailures: 3, lockMs: 1_000, maxLockMs: 3_000 });
  assert.deepEqual(l.fail("k"), { allowed: true });
  assert.deepEqual(l.fail("k"), { allowed: true });
  assert.deepEqual(l.fail("k"), { allowed: false, retryAfterMs: 1_000 });
  assert.equal(l.check("other").allowed, true);
  clock.advance(999);
  assert.deepEqual(l.check("k"), { allowed: false, retryAfterMs: 1 });
  clock.advance(1);
  assert.equal(l.check("k").allowed, true);
  l.fail("k");
  l.fail("k");
  assert.deepEqual(l.fail("k"), { allowed: false, retryAfterMs: 2_000 });
  clock.advance(2_000);
  for (let i = 0; i < 2; i++) l.fail("k");
  assert.deepEqual(l.fail("k"), { allowed: false, retryAfterMs: 3_000 }, "capped at maxLockMs");
  clock.advance(3_000);
  l.succeed("k");
  l.fail("k");
  l.fail("k");
  assert.deepEqual(l.fail("k"), { allowed: false, retryAfterMs: 1_000 }, "success resets");
  assert.equal(l.locked, 1);
  assert.throws(() => new FailureLimiter({ maxFailures: 0 }), RangeError);
});

Deno.test("verifyWebhook() accepts the documented scheme and rejects the rest", async () => {
  const secret = "whsec_0123456789abcdef0123456789abcdef";
  const body = new TextEncoder().encode('{"id":"e1"}');
  const now = 1_767_441_600_000;
  const ts = String(now / 1000);
  const signature = await signWebhook(secret, ts, body);
  assert.match(signature, /^sha256=[0-9a-f]{64}$/);
  const ok = await verifyWebhook({ secret, timestamp: ts, signature, body, nowMs: now });
  assert.deepEqual(ok, { ok: true, timestampMs: now });
  const upper = await verifyWebhook({
    secret,
    timestamp: ts,
    signature: `sha256=${signature.slice(7).toUpperCase()}`,
    body,
    nowMs: now,
  });
  assert.equal(upper.ok, true, "hex digits in either case");
  const cases: Array<[Partial<Parameters<typeof verifyWebhook>[0]>, string]> = [
    [{ signature: undefined }, "missing"],
    [{ timestamp: "12.5" }, "malformed"],
    [{ signature: "sha256=zz" }, "malformed"],
    [{ nowMs: now + 300_001 }, "stale"],
    [{ nowMs: now - 300_001 }, "stale"],
    [{ secret: secret + "x" }, "mismatch"],
    [{ body: new TextEncoder().encode('{"id":"e2"}') }, "mismatch"],
  ];
  for (const [patch, reason] of cases) {
    const r = await verifyWebhook({ secret, timestamp: ts, signature, body, nowMs: now, ...patch });
    assert.equal(r.ok ? "ok" : r.reason, reason, JSON.stringify(patch));
  }
  assert.equal(
    (await verifyWebhook({ secret, timestamp: ts, signature, body, nowMs: now + 300_000 })).ok,
    true,
  );
});

Deno.test("the worked example in docs/webhooks.md verifies", async () => {
  const doc = await Deno.readTextFile(new URL("../../docs/webhooks.md", import.meta.url));
  const secret = /SECRET='([^']+)'/.exec(doc)![1];
  const ts = /TS=(\d+)/.exec(doc)![1];
  const body = /BODY='([^']+)'/.exec(doc)![1];
  const sig = /X-Hub-Signature: (sha256=[0-9a-f]{64})/.exec(doc)![1];
  assert.equal(await signWebhook(secret, ts, body), sig);
});

Deno.test("usageCsv() writes one escaped line per bay and day, sorted", () => {
  const config = parseConfig({ machines: [{ id: 1, label: 'Bay "One", =A1' }, { id: 2 }] });
  const csv = usageCsv([
    {
      day: "2026-06-02",
      machine_id: 1,
      sessions: 1,
      minutes: 30,
      used_minutes: 30,
      amount_cents: 800,
    },
    {
      day: "2026-06-01",
      machine_id: 2,
      sessions: 2,
      minutes: 90,
      used_minutes: 75.5,
      amount_cents: 2200,
    },
  ], config);
  assert.equal(
    csv,
    "date,machine_id,label,sessions,paid_minutes,used_minutes,amount_cents,amount,currency\r\n" +
      "2026-06-01,2,Bay 2,2,90,75.5,2200,22.00,EUR\r\n" +
      `2026-06-02,1,"Bay ""One"", =A1",1,30,30,800,8.00,EUR\r\n`,
  );
  assert.equal(csvField("=HYPERLINK(1)"), "'=HYPERLINK(1)");
  assert.equal(csvField("-5"), "'-5");
  assert.equal(csvField(-5), "-5");
});

Deno.test("dayRange() spans whole local days, both ends included", () => {
  const { fromMs, toMs } = dayRange("2026-03-28", "2026-03-29");
  assert.equal(new Date(fromMs).getHours(), 0);
  assert.equal(new Date(fromMs).getDate(), 28);
  assert.equal(new Date(toMs).getDate(), 30);
  assert.equal(new Date(toMs).getHours(), 0);
});

Deno.test("Histogram counts observations into cumulative buckets", () => {
  const h = new Histogram([0.01, 0.1, 1]);
  h.observe({ topic: "t" }, 0.005);
  h.observe({ topic: "t" }, 0.05);
  h.observe({ topic: "t" }, 5);
  const lines = h.render("x_seconds", "test");
  assert.deepEqual(lines.slice(2), [
    'x_seconds_bucket{topic="t",le="0.01"} 1',
    'x_seconds_bucket{topic="t",le="0.1"} 2',
    'x_seconds_bucket{topic="t",le="1"} 2',
    'x_seconds_bucket{topic="t",le="+Inf"} 3',
    'x_seconds_sum{topic="t"} 5.055',
    'x_seconds_count{topic="t"} 3',
  ]);
  assert.throws(() => new Histogram([1, 1]), RangeError);
});

Deno.test("bayViews() lists configured bays (unknown until reported) and unexpected ones", () => {
  const config = parseConfig({ machines: [{ id: 1 }, { id: 2, label: "Corner" }] });
  const views = bayViews(config.machines, [{
    machine_id: 9,
    label: "Bay 9",
    status: "paused",
    session: {
      session_id: "s",
      origin: "admin",
      started_at: 0,
      paid_s: 600,
      paid_until: null,
      remaining_ms: 90_001,
      amount_cents: 0,
      group_id: null,
    },
    hold: null,
    ball_level: "medium",
    online: true,
    last_seen: 5,
    desired_version: 1,
    acked_version: 1,
    reason: null,
    fault: null,
    updated_at: 5,
  }], 0);
  assert.deepEqual(views.map((v) => [v.machine_id, v.label, v.status, v.remaining_s]), [
    [1, "Bay 1", "unknown", null],
    [2, "Corner", "unknown", null],
    [9, "Bay 9", "paused", 91],
  ]);
  assert.equal(remainingSeconds(null, 0), null);
});
