// failcat recovery review: lists unrecovered failures (most severe first) and records
// operators' recovery outcomes through the REST API. Every value from the server is inserted
// as text, never as HTML.
(function () {
  "use strict";
  const api = "/api/v1";
  const pageSize = 50;
  let offset = 0;
  let total = 0;
  let listing = 0;  // the latest list request: an older answer arriving late is dropped

  const $ = (id) => document.getElementById(id);
  const keyInput = $("api-key");
  keyInput.value = sessionStorage.getItem("failcat-key") || "";

  function headers(extra) {
    const h = Object.assign({ "Accept": "application/json" }, extra || {});
    const key = sessionStorage.getItem("failcat-key");
    if (key) h["Authorization"] = "Bearer " + key;
    return h;
  }

  function say(text) { $("message").textContent = text || ""; }

  async function call(path, options) {
    const response = await fetch(api + path, Object.assign({ headers: headers() }, options || {}));
    const body = response.headers.get("content-type") && response.headers.get("content-type").includes("json")
      ? await response.json() : await response.text();
    if (!response.ok) {
      const detail = body && body.detail ? body.detail : String(body);
      const error = new Error(response.status + " " + detail);
      error.status = response.status;
      throw error;
    }
    return { body, response };
  }

  function filterParams() {
    const form = new FormData($("filters"));
    const params = new URLSearchParams();
    for (const [name, value] of form.entries()) {
      if (String(value).trim() !== "") params.set(name, String(value).trim());
    }
    return params;
  }

  async function loadSummary() {
    const params = filterParams();
    params.delete("category");
    try {
      const { body } = await call("/failures/stats?" + params.toString());
      $("s-total").textContent = body.total;
      $("s-hit").textContent = (body.hit_rate * 100).toFixed(1) + "%";
      $("s-pending").textContent = body.recovery.pending;
      $("s-success").textContent = (body.recovery.success_rate * 100).toFixed(1) + "%";
    } catch (e) { say("stats: " + e.message); }
    try {
      const { body } = await call("/admin/breaker");
      $("s-breaker").textContent = body.state + (body.wal_backlog_rows ? " · " + body.wal_backlog_rows + " queued" : "");
    } catch (e) { $("s-breaker").textContent = "?"; }
  }

  function renderRow(f) {
    const row = $("row").content.firstElementChild.cloneNode(true);
    const sev = f.severity || "unknown";
    const sevCell = row.querySelector(".severity");
    sevCell.textContent = sev;
    sevCell.classList.add("sev-" + sev);
    row.querySelector(".when").textContent = new Date(f.created_at).toLocaleString();
    row.querySelector(".code").textContent = f.error_code;
    row.querySelector(".message").textContent = f.error_message || "";
    row.querySelector(".category").textContent = f.category || "unmatched";
    row.querySelector(".suggestion").textContent = f.recovery_suggestion || "—";
    row.querySelector(".run").textContent = f.run_id + (f.step_index !== null ? " #" + f.step_index : "");
    const notes = row.querySelector(".notes");
    const mark = async (succeeded) => {
      try {
        // The change applies to the version on this page: if someone changed the failure
        // since, say so and show the list again rather than overwrite their change.
        const current = await call("/failures/" + encodeURIComponent(f.id));
        if (current.body.updated_at !== f.updated_at) {
          refresh("this failure was changed by someone else since the page was loaded; the list is reloaded");
          return;
        }
        const etag = current.response.headers.get("ETag");
        const body = { recovery_succeeded: succeeded };
        if (notes.value.trim() !== "") body.notes = notes.value.trim();
        await call("/failures/" + encodeURIComponent(f.id) + "/recovery", {
          method: "PATCH",
          headers: headers(Object.assign({ "Content-Type": "application/json" }, etag ? { "If-Match": etag } : {})),
          body: JSON.stringify(body),
        });
        refresh();
      } catch (e) {
        if (e.status === 412) {
          // Changed between the read above and the change: same answer as before it.
          refresh("this failure was changed by someone else meanwhile; the list is reloaded");
          return;
        }
        say("update: " + e.message);
      }
    };
    row.querySelector(".ok").addEventListener("click", () => mark(true));
    row.querySelector(".fail").addEventListener("click", () => mark(false));
    return row;
  }

  async function loadFailures() {
    const request = ++listing;
    const from = offset;
    const params = filterParams();
    params.set("limit", String(pageSize));
    params.set("offset", String(from));
    const tbody = $("failures").querySelector("tbody");
    try {
      const { body } = await call("/failures/unrecovered?" + params.toString());
      if (request !== listing) return;  // a newer page or filter was asked for meanwhile
      if (body.items.length === 0 && from > 0) {
        // The last rows of this page were handled: show the page before it.
        offset = Math.max(0, from - pageSize);
        return loadFailures();
      }
      total = body.total;
      tbody.replaceChildren(...body.items.map(renderRow));
      const last = Math.min(from + body.items.length, total);
      $("page").textContent = total === 0 ? "nothing to review" : (from + 1) + "–" + last + " of " + total;
      $("prev").disabled = from === 0;
      $("next").disabled = last >= total;
    } catch (e) {
      if (request !== listing) return;
      tbody.replaceChildren();
      $("page").textContent = "";
      $("prev").disabled = from === 0;
      $("next").disabled = true;
      say("failures: " + e.message + (e.status === 503 ? " (try again shortly)" : ""));
    }
  }

  // Reloads the summary and the list, showing `message` (or clearing the last one).
  function refresh(message) { say(message || ""); loadSummary(); loadFailures(); }

  $("filters").addEventListener("submit", (e) => { e.preventDefault(); offset = 0; refresh(); });
  $("auth").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem("failcat-key", keyInput.value.trim());
    refresh();
  });
  $("prev").addEventListener("click", () => { offset = Math.max(0, offset - pageSize); loadFailures(); });
  $("next").addEventListener("click", () => { offset += pageSize; loadFailures(); });
  refresh();
})();
