import assert from "node:assert/strict";
import { LedgerUnavailableError } from "../../actors/machine_handler/queries.ts";
import type { LedgerQuery, LedgerReader, UsageRow } from "../../web/ledger.ts";
import { hashPasswordCommand } from "../../web/auth/hash_password_cli.ts";
import { verifyPassword } from "../../web/auth/password.ts";
import { json, startHarness } from "./harness.ts";

function fakeLedger(rows: UsageRow[]) {
  const calls: { ledger: LedgerQuery[]; usage: Array<[number, number]> } = {
    ledger: [],
    usage: [],
  };
  let available = true;
  const reader: LedgerReader = {
    ledger(q = {}) {
      if (!available) throw new LedgerUnavailableError("No ledger at /x yet");
      calls.ledger.push(q);
      return [{
        seq: 7,
        received_at: 1,
        machine_id: 2,
        origin: "admin",
        action: "activate",
        correlation_id: "c",
        idempotency_key: null,
        payload: {},
        outcome: "ok",
        code: null,
        reason: null,
        rule: null,
        forced: false,
        duplicate: false,
        session_id: "s",
        version: 1,
        replied_at: 2,
      }];
    },
    sessions: () => [],
    usageByBayAndDay(from, to) {
      calls.usage.push([from, to]);
      return rows;
    },
    close() {},
  };
  return { reader, calls, setAvailable: (v: boolean) => available = v };
}

Deno.test("GET /api/admin/ledger passes the filters to the ledger reader", async () => {
  const ledger = fakeLedger([]);
  await using h = await startHarness({ ledger: ledger.reader });
  const { cookie } = await h.login();
  const res = await json<{ entries: Array<{ seq: number }> }>(
    await h.req(
      "/api/admin/ledger?machine=2&origin=kiosk&action=activate&outcome=conflict&from=10&to=20&limit=5",
      { headers: { Cookie: cookie } },
    ),
    200,
  );
  assert.equal(res.entries[0].seq, 7);
  assert.deepEqual(ledger.calls.ledger[0], {
    machine_id: 2,
    origin: "kiosk",
    action: "activate",
    outcome: "conflict",
    from: 10,
    to: 20,
    limit: 5,
  });
  await json(await h.req("/api/admin/ledger", { headers: { Cookie: cookie } }), 200);
  assert.equal(ledger.calls.ledger[1].limit, 100);
  const bad = await json<{ error: { message: string } }>(
    await h.req("/api/admin/ledger?machine=x&limit=5000&origin=Bad!", {
      headers: { Cookie: cookie },
    }),
    400,
  );
  assert.match(bad.error.message, /machine/);
  assert.match(bad.error.message, /limit/);
  assert.match(bad.error.message, /origin/);
  ledger.setAvailable(false);
  const down = await json<{ error: { code: string; message: string } }>(
    await h.req("/api/admin/ledger", { headers: { Cookie: cookie } }),
    503,
  );
  assert.equal(down.error.code, "report_unavailable");
  assert.match(down.error.message, /No ledger/);
});

Deno.test("GET /api/admin/reports/usage.csv downloads sessions per bay per day", async () => {
  const ledger = fakeLedger([
    {
      day: "2026-06-01",
      machine_id: 4,
      sessions: 3,
      minutes: 150,
      used_minutes: 140,
      amount_cents: 4200,
    },
  ]);
  await using h = await startHarness({ ledger: ledger.reader });
  const { cookie } = await h.login();
  const res = await h.req("/api/admin/reports/usage.csv?from=2026-06-01&to=2026-06-07", {
    headers: { Cookie: cookie },
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("Content-Type"), "text/csv; charset=utf-8");
  assert.equal(
    res.headers.get("Content-Disposition"),
    'attachment; filename="usage_2026-06-01_2026-06-07.csv"',
  );
  assert.equal(
    await res.text(),
    "date,machine_id,label,sessions,paid_minutes,used_minutes,amount_cents,amount,currency\r\n" +
      "2026-06-01,4,VIP,3,150,140,4200,42.00,EUR\r\n",
  );
  const [from, to] = ledger.calls.usage[0];
  assert.equal(from, new Date(2026, 5, 1).getTime());
  assert.equal(to, new Date(2026, 5, 8).getTime());
  for (
    const q of ["from=2026-06-07&to=2026-06-01", "from=2026-13-01&to=2026-13-02", "to=2026-06-01"]
  ) {
    const r = await json<{ error: { code: string } }>(
      await h.req(`/api/admin/reports/usage.csv?${q}`, { headers: { Cookie: cookie } }),
      400,
    );
    assert.equal(r.error.code, "invalid_request", q);
  }
});

Deno.test("hashPasswordCommand() prints a verifiable hash or a counter_codes entry", async () => {
  const out: string[] = [];
  const stdin = (s: string) => ReadableStream.from([new TextEncoder().encode(s)]);
  assert.equal(
    await hashPasswordCommand(["--iterations", "1000"], {
      stdin: stdin("long enough password\n"),
      print: (s) => out.push(s),
    }),
    0,
  );
  assert.equal(await verifyPassword("long enough password", out[0]), true);
  assert.equal(
    await hashPasswordCommand(["--staff", "anna", "--iterations", "1000"], {
      stdin: stdin("482913"),
      print: (s) => out.push(s),
    }),
    0,
  );
  const entry = JSON.parse(out[1]);
  assert.equal(entry.staff, "anna");
  assert.equal(await verifyPassword("482913", entry.hash), true);
  const errors: string[] = [];
  const printError = (s: string) => errors.push(s);
  assert.equal(
    await hashPasswordCommand(["--iterations", "12"], { stdin: stdin("x"), printError }),
    2,
  );
  assert.equal(await hashPasswordCommand([], { stdin: stdin(""), printError }), 2);
  assert.equal(await hashPasswordCommand(["--bogus"], { stdin: stdin("x"), printError }), 2);
  assert.match(errors[0], /--iterations must be a whole number from 1000/);
  assert.match(errors[1], /empty input/);
  assert.match(errors[2], /Unknown option '--bogus'/);
});
