import assert from "node:assert/strict";
import { ApiClient, ApiError, CSRF_HEADER } from "../../web/ui/api_client.ts";

interface Seen {
  url: string;
  method: string;
  headers: Headers;
  body: string | null;
}

function stubFetch(respond: (req: Seen) => Response | Promise<Response>) {
  const seen: Seen[] = [];
  const fn: typeof fetch = async (input, init) => {
    const req: Seen = {
      url: String(input),
      method: init?.method ?? "GET",
      headers: new Headers(init?.headers),
      body: typeof init?.body === "string" ? init.body : null,
    };
    seen.push(req);
    return await respond(req);
  };
  return { fn, seen };
}

Deno.test("ApiClient sends the CSRF token on changes but not on reads", async () => {
  const { fn, seen } = stubFetch(() => Response.json({ ok: true }));
  const api = new ApiClient({ fetch: fn });
  api.csrfToken = "tok123";
  assert.deepEqual(await api.get("/api/admin/alerts"), { ok: true });
  await api.post("/api/admin/machines/3/commands", { action: "pause" });
  await api.put("/api/admin/settings", { hold_s: 60 });
  assert.equal(seen[0].headers.get(CSRF_HEADER), null);
  assert.equal(seen[1].headers.get(CSRF_HEADER), "tok123");
  assert.equal(seen[1].headers.get("Content-Type"), "application/json");
  assert.deepEqual(JSON.parse(seen[1].body!), { action: "pause" });
  assert.equal(seen[2].method, "PUT");
  assert.equal(seen[2].headers.get(CSRF_HEADER), "tok123");
});

Deno.test("ApiClient turns the server's error JSON into an ApiError with its message", async () => {
  const { fn } = stubFetch(() =>
    Response.json({
      error: { code: "conflict", message: "Bay 4 is reserved for a payment; pick another bay." },
      checkout: { id: "c1" },
    }, { status: 409 })
  );
  const api = new ApiClient({ fetch: fn });
  const err = await api.post("/api/kiosk/checkouts", {}).catch((e) => e);
  assert.ok(err instanceof ApiError);
  assert.equal(err.status, 409);
  assert.equal(err.code, "conflict");
  assert.equal(err.message, "Bay 4 is reserved for a payment; pick another bay.");
  assert.deepEqual((err.body as { checkout: unknown }).checkout, { id: "c1" });
});

Deno.test("ApiClient explains failures without an error body", async () => {
  const cases: Array<[Response, RegExp]> = [
    [new Response("<html>Bad gateway</html>", { status: 502 }), /HTTP 502.*try again/i],
    [new Response("", { status: 429 }), /Too many attempts/],
    [new Response("nope", { status: 404 }), /Not found: GET \/x/],
  ];
  for (const [res, re] of cases) {
    const { fn } = stubFetch(() => res);
    const err = await new ApiClient({ fetch: fn }).get("/x").catch((e) => e);
    assert.ok(err instanceof ApiError);
    assert.match(err.message, re);
  }
});

Deno.test("ApiClient says what to check when the hub cannot be reached", async () => {
  const api = new ApiClient({
    fetch: () => Promise.reject(new TypeError("Failed to fetch")),
  });
  const err = await api.get("/api/status").catch((e) => e);
  assert.ok(err instanceof ApiError);
  assert.equal(err.status, 0);
  assert.equal(err.code, "network");
  assert.match(err.message, /Cannot reach the hub.*network/);
  assert.ok(err.cause instanceof TypeError);
});

Deno.test("ApiClient gives up after its timeout", async () => {
  const api = new ApiClient({
    timeoutMs: 20,
    fetch: (_input, init) =>
      new Promise((_resolve, reject) => {
        init?.signal?.addEventListener("abort", () =>
          reject(new DOMException("aborted", "AbortError")));
      }),
  });
  const err = await api.get("/api/status").catch((e) => e);
  assert.ok(err instanceof ApiError);
  assert.equal(err.code, "network");
  assert.match(err.message, /did not answer within 20 ms\. Check the status/);
});

Deno.test("ApiClient reports a 401 to onUnauthorized", async () => {
  const { fn } = stubFetch(() =>
    Response.json({ error: { code: "unauthorized", message: "Log in again." } }, { status: 401 })
  );
  const got: ApiError[] = [];
  const api = new ApiClient({ fetch: fn, onUnauthorized: (e) => got.push(e) });
  await assert.rejects(api.get("/api/admin/session"), ApiError);
  assert.equal(got.length, 1);
  assert.equal(got[0].code, "unauthorized");
});
