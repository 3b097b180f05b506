// The recovery review page (ui/) in a DOM (jsdom), against a scripted fetch: what it shows,
// what it sends, and how it treats answers that arrive late or refuse a change.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

// jsdom comes from the directory scripts/test-ui.sh installs it into.
const require = createRequire(new URL("../../.cache/npm-ui/package.json", import.meta.url));
const { JSDOM } = require("jsdom");

const root = new URL("../../", import.meta.url);
const html = readFileSync(new URL("ui/index.html", root), "utf8");
const script = readFileSync(new URL("ui/app.js", root), "utf8");

function failure(id, extra = {}) {
  return {
    id, run_id: "run-" + id, step_index: null, error_code: "RATE_LIMITED",
    error_message: "429 from provider", severity: "medium", category: "rate_limit",
    recovery_suggestion: "Back off and retry", created_at: "2026-11-30T10:00:00.000000Z",
    updated_at: "2026-11-30T10:00:00.000000Z", ...extra,
  };
}

function answer(status, body, headers = {}) {
  const all = { "content-type": status >= 400 ? "application/problem+json" : "application/json", ...headers };
  return {
    ok: status >= 200 && status < 300, status,
    headers: { get: (name) => all[name.toLowerCase()] ?? null },
    json: async () => body, text: async () => JSON.stringify(body),
  };
}

/// The page with `route(url, options)` answering its requests (a value or a promise of one).
/// Resolves once the first list is shown.
async function page(route) {
  const dom = new JSDOM(html, { url: "http://127.0.0.1:8080/ui/", runScripts: "outside-only" });
  const w = dom.window;
  const calls = [];
  w.fetch = (url, options = {}) => {
    calls.push({ url: String(url), options });
    return Promise.resolve(route(String(url), options));
  };
  w.eval(script);
  const settle = () => new Promise((r) => setTimeout(r, 20));
  await settle();
  return { w, doc: w.document, calls, settle };
}

const stats = answer(200, { total: 1, hit_rate: 1, recovery: { pending: 1, success_rate: 0 } });
const breaker = answer(200, { state: "closed", wal_backlog_rows: 0 });

function common(url) {
  if (url.includes("/failures/stats")) return stats;
  if (url.includes("/admin/breaker")) return breaker;
  return null;
}

const rows = (doc) => [...doc.querySelectorAll("#failures tbody tr")].map((tr) => tr.querySelector(".code").textContent);

test("server values are shown as text, never as markup", async () => {
  const hostile = failure("a", { error_code: "<img src=x onerror=alert(1)>", error_message: "<script>x()</script>" });
  const { doc } = await page((url) => common(url) ?? answer(200, { items: [hostile], total: 1 }));
  assert.deepEqual(rows(doc), ["<img src=x onerror=alert(1)>"]);
  assert.equal(doc.querySelector("#failures img"), null);
  assert.equal(doc.querySelector("#failures script"), null);
  assert.equal(doc.getElementById("page").textContent, "1–1 of 1");
});

test("an answer that arrives after a newer request is dropped", async () => {
  let releaseFirst;
  const first = new Promise((r) => { releaseFirst = r; });
  let lists = 0;
  const { doc, settle } = await page((url) => {
    if (common(url)) return common(url);
    lists += 1;
    if (lists === 2) return first;  // the list asked for by the first Refresh: slow
    const code = lists === 1 ? "INITIAL" : "NEWEST";
    return answer(200, { items: [failure(code.toLowerCase(), { error_code: code })], total: 1 });
  });
  assert.deepEqual(rows(doc), ["INITIAL"]);
  const submit = () => doc.getElementById("filters").dispatchEvent(new doc.defaultView.Event("submit", { cancelable: true }));
  submit();  // its list answer is held back
  submit();  // answered at once
  await settle();
  assert.deepEqual(rows(doc), ["NEWEST"]);
  releaseFirst(answer(200, { items: [failure("stale", { error_code: "STALE" })], total: 1 }));
  await settle();
  assert.deepEqual(rows(doc), ["NEWEST"]);
});

test("a change refused with 412 says so and shows the list again", async () => {
  const f = failure("f1");
  let lists = 0;
  let patches = 0;
  const { doc, calls, settle } = await page((url, options) => {
    if (common(url)) return common(url);
    if (url.includes("/failures/unrecovered")) { lists += 1; return answer(200, { items: [f], total: 1 }); }
    if (options.method === "PATCH") {
      patches += 1;
      return answer(412, { status: 412, detail: "the failure changed since the ETag" });
    }
    return answer(200, f, { etag: "\"1764496800000000\"" });  // GET /failures/f1
  });
  assert.equal(lists, 1);
  doc.querySelector("#failures tbody .ok").click();
  await settle();
  assert.equal(patches, 1);
  const patch = calls.find((c) => c.options.method === "PATCH");
  assert.equal(patch.options.headers["If-Match"], "\"1764496800000000\"");
  assert.equal(patch.options.headers["Content-Type"], "application/json");
  assert.deepEqual(JSON.parse(patch.options.body), { recovery_succeeded: true });
  assert.equal(lists, 2);
  assert.match(doc.getElementById("message").textContent, /changed by someone else meanwhile/);
});

test("a failure changed since the list was shown is not overwritten", async () => {
  const listed = failure("f2");
  let patches = 0;
  const { doc, settle } = await page((url, options) => {
    if (common(url)) return common(url);
    if (url.includes("/failures/unrecovered")) return answer(200, { items: [listed], total: 1 });
    if (options.method === "PATCH") { patches += 1; return answer(200, listed); }
    return answer(200, { ...listed, updated_at: "2026-11-30T11:00:00.000000Z" });
  });
  doc.querySelector("#failures tbody .fail").click();
  await settle();
  assert.equal(patches, 0);
  assert.match(doc.getElementById("message").textContent, /changed by someone else/);
});

test("a last page emptied by a change steps back to the page before it", async () => {
  const many = Array.from({ length: 50 }, (_, i) => failure("p" + i));
  const last = failure("last", { error_code: "LAST" });
  let recovered = false;
  const offsets = [];
  const { doc, settle } = await page((url, options) => {
    if (common(url)) return common(url);
    if (url.includes("/failures/unrecovered")) {
      const offset = Number(new URL(url, "http://x").searchParams.get("offset"));
      offsets.push(offset);
      const total = recovered ? 50 : 51;
      if (offset === 50) return answer(200, { items: recovered ? [] : [last], total });
      return answer(200, { items: many, total });
    }
    if (options.method === "PATCH") { recovered = true; return answer(200, last); }
    return answer(200, last, { etag: "\"1\"" });
  });
  doc.getElementById("next").click();
  await settle();
  assert.deepEqual(rows(doc), ["LAST"]);
  doc.querySelector("#failures tbody .ok").click();  // the only row of the last page
  await settle();
  // The reload finds page 2 empty and shows page 1 instead of an empty table.
  assert.deepEqual(offsets, [0, 50, 50, 0]);
  assert.equal(rows(doc).length, 50);
  assert.equal(doc.getElementById("page").textContent, "1–50 of 50");
  assert.equal(doc.getElementById("next").disabled, true);
});

test("an unavailable server is reported and the pager does not offer a next page", async () => {
  const { doc } = await page((url) => common(url) ?? answer(503, { status: 503, detail: "database unavailable" }, { "retry-after": "1" }));
  assert.match(doc.getElementById("message").textContent, /503 database unavailable \(try again shortly\)/);
  assert.equal(doc.getElementById("next").disabled, true);
  assert.deepEqual(rows(doc), []);
});

test("an API key is sent as a bearer token and kept for the tab only", async () => {
  const { w, doc, calls, settle } = await page((url) => common(url) ?? answer(200, { items: [], total: 0 }));
  assert.equal(calls[0].options.headers.Authorization, undefined);
  doc.getElementById("api-key").value = " fc_secret ";
  doc.getElementById("auth").dispatchEvent(new w.Event("submit", { cancelable: true }));
  await settle();
  assert.equal(calls.at(-1).options.headers.Authorization, "Bearer fc_secret");
  assert.equal(w.sessionStorage.getItem("failcat-key"), "fc_secret");
  assert.equal(w.localStorage.length, 0);
  assert.equal(doc.getElementById("page").textContent, "nothing to review");
});
