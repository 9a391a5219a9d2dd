// llmgate dashboard: plain JavaScript, no dependencies. Every number comes
// from the gateway's own admin API (/admin/*, /logs), called with the
// session cookie and, for writes, the session's CSRF token.
"use strict";

const POLL_MS = 5000;
const state = { csrf: "", page: "", timer: 0, refresh: null, keys: [], logs: [], running: new Set() };

// track remembers a refresh in flight until it settles (logout waits for them).
function track(p) {
  state.running.add(p);
  p.finally(() => state.running.delete(p)).catch(() => {});
  return p;
}

// ---- DOM helpers (text only: data never goes through innerHTML) ----------
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of kids.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}
const $ = (sel, root) => (root || document).querySelector(sel);
function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); return e; }
function panel(title, ...kids) { return el("section", { class: "panel" }, title ? el("h2", { text: title }) : null, ...kids); }
function tableOf(head, rows, empty) {
  const t = el("table", {}, el("thead", {}, el("tr", {}, head.map(h =>
    el("th", { class: h.startsWith("#") ? "num" : "", text: h.replace(/^#/, "") })))));
  const tb = el("tbody");
  if (!rows.length) tb.append(el("tr", {}, el("td", { class: "muted", colspan: head.length, text: empty || "nothing yet" })));
  for (const r of rows) tb.append(r);
  t.append(tb);
  return el("div", { class: "table-wrap" }, t);
}
function td(v, cls) { return el("td", { class: cls || "" }, v); }
function num(v) { return td(v, "num"); }

// ---- formatting --------------------------------------------------------
function fmtInt(n) { return (n || 0).toLocaleString("en-US"); }
function fmtUSD(n) {
  n = n || 0;
  if (n === 0) return "$0";
  if (Math.abs(n) < 0.01) return "$" + n.toFixed(5);
  if (Math.abs(n) < 1) return "$" + n.toFixed(4);
  return "$" + n.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}
function fmtMS(ms) {
  if (!ms) return "–";
  if (ms < 1) return ms.toFixed(2) + " ms";
  if (ms < 1000) return Math.round(ms) + " ms";
  return (ms / 1000).toFixed(2) + " s";
}
function fmtPct(x) { return ((x || 0) * 100).toFixed(x && x < 0.01 ? 2 : 1) + "%"; }
function fmtTime(t) {
  if (!t) return "–";
  const d = new Date(t);
  return d.toLocaleString("en-GB", { hour12: false, month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}
function fmtClock(d) { return d.toLocaleTimeString("en-GB", { hour12: false, hour: "2-digit", minute: "2-digit" }); }
function fmtAgo(t) {
  if (!t) return "–";
  let s = Math.round((new Date(t) - Date.now()) / 1000);
  const future = s > 0; s = Math.abs(s);
  const v = s < 60 ? s + "s" : s < 3600 ? Math.round(s / 60) + "m" : s < 86400 ? Math.round(s / 3600) + "h" : Math.round(s / 86400) + "d";
  return future ? "in " + v : v + " ago";
}
function fmtCompact(n) {
  n = n || 0;
  if (Math.abs(n) >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (Math.abs(n) >= 1e5) return Math.round(n / 1e3) + "k";
  if (Math.abs(n) >= 1e3) return (n / 1e3).toFixed(1) + "k";
  return Math.abs(n) < 10 && n % 1 ? n.toFixed(2) : String(Math.round(n * 100) / 100);
}
function fmtAxisUSD(v) {
  if (!v) return "$0";
  if (v >= 100) return "$" + fmtCompact(v);
  return "$" + Number(v.toPrecision(2));
}
function badge(text, kind) { return el("span", { class: "badge " + (kind || ""), text }); }
function statusBadge(s) {
  const k = { ok: "ok", healthy: "ok", closed: "ok", active: "ok", degraded: "warn", half_open: "warn", cooling: "warn",
    expired: "warn", unhealthy: "bad", down: "bad", open: "bad", revoked: "bad" }[s] || "";
  return badge(s === "" ? "no breaker" : s, k);
}
function httpBadge(code) { return badge(String(code), code < 400 ? "ok" : code < 500 ? "warn" : "bad"); }
function meter(used, limit, plain) {
  const frac = limit > 0 ? Math.min(1, used / limit) : 0;
  const b = el("div", { class: "bar" + (plain ? "" : frac >= 1 ? " bad" : frac >= 0.8 ? " warn" : "") }, el("span"));
  b.firstChild.style.width = (frac * 100).toFixed(1) + "%";
  return b;
}

// ---- API ---------------------------------------------------------------
class APIError extends Error {
  constructor(status, msg) { super(msg); this.status = status; }
}
async function api(path, opts) {
  opts = opts || {};
  const method = opts.method || "GET";
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = state.csrf;
  let body;
  if (opts.body !== undefined) { headers["Content-Type"] = "application/json"; body = JSON.stringify(opts.body); }
  const r = await fetch(path, { method, headers, body, credentials: "same-origin", cache: "no-store" });
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
  if (!r.ok) {
    const msg = data && data.error ? (typeof data.error === "string" ? data.error : data.error.message) : r.status + " " + r.statusText;
    if (r.status === 401) { showLogin("Your session ended: log in again."); }
    throw new APIError(r.status, msg);
  }
  return data;
}

function toast(msg, bad) {
  const t = $("#toast");
  t.textContent = msg;
  t.className = bad ? "bad" : "";
  t.hidden = false;
  clearTimeout(toast.t);
  toast.t = setTimeout(() => { t.hidden = true; }, bad ? 6000 : 3000);
}

// ---- session -----------------------------------------------------------
async function boot() {
  $("#logout").addEventListener("click", logout);
  window.addEventListener("hashchange", route);
  window.addEventListener("resize", () => { clearTimeout(boot.r); boot.r = setTimeout(() => kick(state.refresh), 200); });
  document.addEventListener("visibilitychange", () => { if (!document.hidden) kick(state.refresh); });
  let s;
  try { s = await api("/ui/session"); } catch (e) { clear($("#main")).append(panel("", el("p", { class: "error", text: e.message }))); return; }
  if (!s.master_key) return showDisabled(s.message);
  if (!s.authenticated) return showLogin();
  state.csrf = s.csrf;
  enter();
}

function showDisabled(msg) {
  stopPolling();
  $("#nav").hidden = true; $("#session-bar").hidden = true;
  clear($("#main")).append(el("div", { class: "login" }, panel("Dashboard disabled",
    el("p", { class: "notice", text: msg }),
    el("p", { class: "muted" }, "Without a master key the admin API answers 403 to every call, and the dashboard, which uses only that API, has nothing to show. Example: ",
      el("code", { text: "LLMGATE_MASTER_KEY=$(openssl rand -hex 24) llmgate serve" })))));
}

function showLogin(msg) {
  stopPolling();
  state.csrf = "";
  $("#nav").hidden = true; $("#session-bar").hidden = true;
  const err = el("p", { class: "error", id: "login-error", text: msg || "" });
  const key = el("input", { type: "password", name: "key", id: "login-key", autocomplete: "current-password", required: true, autofocus: true });
  const form = el("form", { id: "login-form" },
    el("label", {}, "Master key", key),
    el("button", { type: "submit", id: "login-submit" }, "Log in"), err,
    el("p", { class: "muted small", text: "The key is checked by the gateway and never kept in the browser: you get a session cookie (HttpOnly, SameSite=Strict) that ends after 12 hours or at logout." }));
  form.addEventListener("submit", async ev => {
    ev.preventDefault();
    err.textContent = "";
    try {
      const r = await fetch("/ui/login", { method: "POST", headers: { "Content-Type": "application/json" }, credentials: "same-origin",
        body: JSON.stringify({ key: key.value }) });
      const d = await r.json().catch(() => ({}));
      if (!r.ok) { err.textContent = (d.error && d.error.message) || "login failed"; return; }
      key.value = "";
      state.csrf = d.csrf;
      enter();
    } catch (e) { err.textContent = e.message; }
  });
  clear($("#main")).append(el("div", { class: "login" }, panel("Log in to llmgate", form)));
  key.focus();
}

async function logout() {
  // Stop every refresh first, so none races the logout and meets a 401.
  const csrf = state.csrf;
  stopPolling();
  state.csrf = "";
  await Promise.allSettled([...state.running]);
  try {
    await fetch("/ui/logout", { method: "POST", headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" });
  } catch (_) { /* the page forgets the session either way */ }
  showLogin("Logged out.");
}

function enter() {
  $("#nav").hidden = false; $("#session-bar").hidden = false;
  if (!location.hash || location.hash === "#" || location.hash === "#/") location.hash = "#/overview";
  else route();
}

// ---- routing and polling -------------------------------------------------
const pages = { overview: pageOverview, providers: pageProviders, keys: pageKeys, requests: pageRequests, spend: pageSpend };

function route() {
  if (!state.csrf) return;
  const parts = location.hash.replace(/^#\/?/, "").split("/");
  const name = pages[parts[0]] ? parts[0] : "overview";
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.page === name);
  stopPolling();
  $("#toast").hidden = true;
  const main = clear($("#main"));
  state.page = name;
  state.refresh = pages[name](main, parts.slice(1).map(decodeURIComponent));
  poll();
}

// kick runs a page's refresh outside the polling loop (after a filter
// change, a resize), unless the session is gone; a failure is shown on the
// page by the refresh itself.
function kick(fn) {
  if (!fn || !state.csrf) return;
  track(Promise.resolve().then(fn)).catch(e => console.warn("refresh:", e.message));
}

function stopPolling() { clearTimeout(state.timer); state.timer = 0; state.refresh = null; }

async function poll() {
  const page = state.page, fn = state.refresh;
  if (!fn) return;
  const live = $("#live");
  try {
    if (!document.hidden) await track(Promise.resolve().then(fn));
    live.classList.remove("stale"); live.textContent = "live · " + fmtClock(new Date());
  } catch (e) {
    live.classList.add("stale"); live.textContent = "stale";
    if (!(e instanceof APIError && e.status === 401)) console.warn("refresh:", e.message);
  }
  if (state.page === page && state.refresh === fn) state.timer = setTimeout(poll, POLL_MS);
}

// A section whose content is rebuilt by refresh, with its last error shown.
function slot(id) { return el("div", { id }); }
function fill(id, ...kids) { const s = document.getElementById(id); if (s) clear(s).append(...kids.filter(k => k !== null && k !== undefined && k !== false)); }
function fail(id, e) { fill(id, el("p", { class: "error", text: e.message })); }

// ---- charts (SVG, drawn here) ---------------------------------------------
const COLORS = ["#2f6fed", "#d0342c", "#1a8f4b", "#c27a00", "#7c3aed"];

function lineChart(times, series, fmtY, opts) {
  opts = opts || {};
  const W = 560, H = 190, L = 48, R = 10, T = 10, B = 24;
  const ns = "http://www.w3.org/2000/svg";
  const s = (tag, a) => { const e = document.createElementNS(ns, tag); for (const k in a) e.setAttribute(k, a[k]); return e; };
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": opts.label || "chart" });
  let maxY = 0;
  for (const sr of series) for (const v of sr.values) maxY = Math.max(maxY, v || 0);
  if (maxY === 0) maxY = 1;
  maxY = niceCeil(maxY);
  const n = times.length;
  const x = i => L + (n <= 1 ? 0 : (i * (W - L - R)) / (n - 1));
  const y = v => T + (H - T - B) * (1 - (v || 0) / maxY);
  for (let g = 0; g <= 4; g++) {
    const v = (maxY * g) / 4, yy = y(v);
    svg.append(s("line", { x1: L, x2: W - R, y1: yy, y2: yy, stroke: g === 0 ? "#cbd5e1" : "#eef0f3", "stroke-width": 1 }));
    const t = s("text", { x: L - 6, y: yy + 4, "text-anchor": "end" }); t.textContent = fmtY(v); svg.append(t);
  }
  if (n > 0) {
    for (const i of [0, Math.floor((n - 1) / 2), n - 1]) {
      const t = s("text", { x: x(i), y: H - 6, "text-anchor": i === 0 ? "start" : i === n - 1 ? "end" : "middle" });
      t.textContent = (opts.fmtX || (v => fmtClock(new Date(v))))(times[i]); svg.append(t);
    }
  }
  series.forEach((sr, k) => {
    const color = sr.color || COLORS[k % COLORS.length];
    if (opts.bars) {
      const bw = Math.max(1, (W - L - R) / Math.max(1, n) / series.length - 1);
      sr.values.forEach((v, i) => {
        if (!v) return;
        const x0 = L + (i * (W - L - R)) / Math.max(1, n) + k * bw;
        svg.append(s("rect", { x: x0, y: y(v), width: bw, height: y(0) - y(v), fill: color }));
      });
      return;
    }
    // A null value (a bucket without requests) breaks the line.
    const runs = [];
    let run = [];
    sr.values.forEach((v, i) => {
      if (v === null || v === undefined) { if (run.length) runs.push(run); run = []; return; }
      run.push(i);
    });
    if (run.length) runs.push(run);
    for (const r of runs) {
      const pts = r.map(i => x(i).toFixed(1) + "," + y(sr.values[i]).toFixed(1)).join(" ");
      if (sr.fill) svg.append(s("polygon", { points: `${x(r[0])},${y(0)} ${pts} ${x(r[r.length - 1])},${y(0)}`, fill: color, "fill-opacity": 0.1 }));
      if (r.length === 1) svg.append(s("circle", { cx: x(r[0]), cy: y(sr.values[r[0]]), r: 2, fill: color }));
      else svg.append(s("polyline", { points: pts, fill: "none", stroke: color, "stroke-width": 1.8, "stroke-linejoin": "round" }));
    }
  });
  const legend = el("div", { class: "legend" }, series.map((sr, k) => {
    const i = el("i"); i.style.background = sr.color || COLORS[k % COLORS.length];
    return el("span", {}, i, sr.name);
  }));
  return el("div", { class: "chart" }, svg, legend);
}
function niceCeil(v) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

// ---- Overview ------------------------------------------------------------
const WINDOWS = { "15m": "15s", "1h": "1m", "6h": "5m", "24h": "20m", "168h": "2h" };

function pageOverview(main) {
  const win = el("select", { id: "ov-window" }, Object.keys(WINDOWS).map(w => el("option", { value: w, text: w === "168h" ? "7d" : w })));
  win.value = sessionStorage.getItem("ov-window") || "1h";
  win.addEventListener("change", () => { sessionStorage.setItem("ov-window", win.value); kick(refresh); });
  main.append(el("div", { class: "row" }, el("h1", { text: "Overview" }), el("div", { class: "spacer" }), el("label", {}, "Window", win)),
    slot("ov-cards"), slot("ov-charts"));
  async function refresh() {
    let st;
    try { st = await api(`/admin/stats?window=${win.value}&step=${WINDOWS[win.value]}`); } catch (e) { fail("ov-cards", e); throw e; }
    const t = st.total;
    const card = (k, v, id) => el("div", { class: "card", id }, el("div", { class: "k", text: k }), el("div", { class: "v", text: v }));
    fill("ov-cards", el("div", { class: "cards" },
      card("Requests", fmtInt(t.requests), "card-requests"), card("Requests/s", t.rps.toFixed(t.rps < 1 ? 3 : 1)),
      card("Error rate", fmtPct(t.error_rate), "card-errors"), card("p50 latency", fmtMS(t.p50_ms)), card("p99 latency", fmtMS(t.p99_ms)),
      card("Tokens in / out", fmtCompact(t.input_tokens) + " / " + fmtCompact(t.output_tokens)), card("Spend", fmtUSD(t.cost_usd), "card-spend")),
    st.truncated ? el("p", { class: "notice small", text: "More than 10,000 requests in this window: only the newest are counted." }) : null);
    const times = st.series.map(p => p.start);
    const col = f => st.series.map(f);
    const seen = f => st.series.map(p => (p.requests ? f(p) : null)); // no requests: no value
    fill("ov-charts", el("div", { class: "grid" },
      panel("Requests per second", lineChart(times, [{ name: "requests/s", values: col(p => p.rps), fill: true },
        { name: "errors/s", values: col(p => (p.requests ? p.rps * p.errors / p.requests : 0)), color: COLORS[1] }], fmtCompact)),
      panel("Error rate", lineChart(times, [{ name: "error rate", values: seen(p => p.error_rate), color: COLORS[1], fill: true }], v => Math.round(v * 100) + "%")),
      panel("Latency", lineChart(times, [{ name: "p50", values: seen(p => p.p50_ms) }, { name: "p99", values: seen(p => p.p99_ms), color: COLORS[3] },
        { name: "TTFT p50 (streams)", values: seen(p => p.ttft_p50_ms || null), color: COLORS[2] }], v => (v ? fmtMS(v).replace(" ", "") : "0"))),
      panel("Tokens", lineChart(times, [{ name: "input", values: col(p => p.input_tokens) }, { name: "output", values: col(p => p.output_tokens), color: COLORS[2] }], fmtCompact, { bars: true })),
      panel("Spend", lineChart(times, [{ name: "USD per step", values: col(p => p.cost_usd), color: COLORS[4], fill: true }], fmtAxisUSD))));
  }
  return refresh;
}

// ---- Providers and routes --------------------------------------------------
function pageProviders(main) {
  main.append(el("h1", { text: "Providers and routes" }), slot("pv-providers"), el("div", { class: "grid" },
    el("div", { class: "stack" }, slot("pv-deployments")), el("div", { class: "stack" }, slot("pv-routes"))), slot("pv-errors"));
  async function refresh() {
    let rt, errs;
    try { [rt, errs] = await Promise.all([api("/admin/routes"), api("/logs?status=error&limit=15")]); } catch (e) { fail("pv-providers", e); throw e; }
    fill("pv-providers", panel("Providers", tableOf(["Provider", "Format", "Status", "#Recent", "#Failed", "Last success", "Last error"],
      rt.providers.map(p => el("tr", { "data-provider": p.name }, td(el("b", { text: p.name })), td(p.format), td(statusBadge(p.status)),
        num(fmtInt(p.recent_requests)), num(fmtInt(p.recent_failures)), td(fmtAgo(p.last_success_at)),
        td(p.last_error ? el("span", {}, fmtAgo(p.last_error_at) + " · ", el("span", { class: "muted", text: p.last_error })) : "–", "wrap"))),
      "no providers configured"),
    el("p", { class: "muted small", text: "Health counts the last 20 real upstream outcomes per provider; there are no synthetic probes." })));
    fill("pv-deployments", panel("Deployments (breakers)", tableOf(["Deployment", "Breaker", "Next probe", "#In flight"],
      rt.deployments.map(d => el("tr", {}, td(el("span", { class: "mono", text: d.name })), td(statusBadge(d.state)),
        td(d.ready_at ? fmtTime(d.ready_at) + " (" + fmtAgo(d.ready_at) + ")" : d.state === "half_open" ? "probing now" : "–"), num(fmtInt(d.inflight)))),
      "no deployment has taken traffic yet")));
    fill("pv-routes", panel("Routes", tableOf(["Model", "Chain (first target, then fallbacks)"],
      rt.routes.map(r => el("tr", {}, td(el("b", { text: r.model })), td(r.error ? el("span", { class: "error", text: r.error }) :
        el("span", { class: "mono", text: (r.chain || []).join("  →  ") }), "wrap"))), "no routes")));
    fill("pv-errors", panel("Recent errors", requestTable(errs.data, "no errors recorded")));
  }
  return refresh;
}

// ---- Keys and teams -----------------------------------------------------------
function pageKeys(main) {
  const f = {};
  const input = (name, attrs) => (f[name] = el("input", Object.assign({ name, id: "key-" + name }, attrs || {})));
  const period = () => el("select", {}, ["monthly", "weekly", "daily", "total"].map(p => el("option", { value: p, text: p })));
  f.period = period(); f.period.id = "key-period";
  f.team = el("select", { id: "key-team" }, el("option", { value: "", text: "(no team)" }));
  const created = slot("key-created");
  const createForm = el("form", { id: "key-create" },
    el("div", { class: "row" },
      el("label", {}, "Name", input("name", { required: true, placeholder: "ci-bot" })),
      el("label", {}, "Team", f.team),
      el("label", {}, "Budget (USD)", input("budget", { type: "number", min: 0, step: "0.01" })),
      el("label", {}, "Period", f.period),
      el("label", {}, "Prepaid balance (USD)", input("balance", { type: "number", min: 0, step: "0.01" })),
      el("label", {}, "RPM", input("rpm", { type: "number", min: 0 })),
      el("label", {}, "TPM", input("tpm", { type: "number", min: 0 })),
      el("label", {}, "Models (comma separated, * wildcard)", input("models", { placeholder: "every model" })),
      el("button", { type: "submit", id: "key-create-submit" }, "Create key")), created);
  createForm.addEventListener("submit", async ev => {
    ev.preventDefault();
    const spec = { name: f.name.value.trim() };
    if (f.team.value) spec.team = f.team.value;
    if (+f.budget.value > 0) { spec.budget_usd = +f.budget.value; spec.budget_period = f.period.value; }
    if (f.balance.value !== "") spec.balance_usd = +f.balance.value;
    if (+f.rpm.value > 0) spec.rpm = +f.rpm.value;
    if (+f.tpm.value > 0) spec.tpm = +f.tpm.value;
    const models = f.models.value.split(",").map(s => s.trim()).filter(Boolean);
    if (models.length) spec.models = models;
    try {
      const nk = await api("/admin/keys", { method: "POST", body: spec });
      createForm.reset();
      fill("key-created", el("div", { class: "secret", id: "key-secret" }, el("b", { text: "Key " + nk.key.name + " created. " }),
        "Copy its secret now, it is not shown again: ", el("code", { text: nk.secret })));
      toast("created key " + nk.key.name);
      await refresh();
    } catch (e) { toast(e.message, true); }
  });
  const tf = {};
  const tin = (name, attrs) => (tf[name] = el("input", Object.assign({ name, id: "team-" + name }, attrs || {})));
  tf.period = period();
  const teamForm = el("form", { id: "team-create" }, el("div", { class: "row" },
    el("label", {}, "Name", tin("name", { required: true, placeholder: "research" })),
    el("label", {}, "Budget (USD)", tin("budget", { type: "number", min: 0, step: "0.01" })),
    el("label", {}, "Period", tf.period),
    el("label", {}, "RPM", tin("rpm", { type: "number", min: 0 })),
    el("label", {}, "TPM", tin("tpm", { type: "number", min: 0 })),
    el("button", { type: "submit" }, "Create team")));
  teamForm.addEventListener("submit", async ev => {
    ev.preventDefault();
    const spec = { name: tf.name.value.trim() };
    if (+tf.budget.value > 0) { spec.budget_usd = +tf.budget.value; spec.budget_period = tf.period.value; }
    if (+tf.rpm.value > 0) spec.rpm = +tf.rpm.value;
    if (+tf.tpm.value > 0) spec.tpm = +tf.tpm.value;
    try { await api("/admin/teams", { method: "POST", body: spec }); teamForm.reset(); toast("created team " + spec.name); await refresh(); }
    catch (e) { toast(e.message, true); }
  });
  const showRevoked = el("input", { type: "checkbox", id: "show-revoked" });
  showRevoked.addEventListener("change", () => kick(refresh));
  main.append(el("h1", { text: "Keys and teams" }), panel("New virtual key", createForm), slot("keys-list"),
    el("p", {}, el("label", { class: "row" }, el("span", {}, showRevoked, " show revoked keys"))),
    panel("New team", teamForm), slot("teams-list"));

  async function refresh() {
    let keys, teams;
    try {
      [keys, teams] = await Promise.all([api("/admin/keys" + (showRevoked.checked ? "?include_revoked=true" : "")), api("/admin/teams")]);
    } catch (e) { fail("keys-list", e); throw e; }
    state.keys = keys.keys;
    const sel = f.team.value;
    clear(f.team).append(el("option", { value: "", text: "(no team)" }), teams.teams.map(t => el("option", { value: t.name, text: t.name })));
    f.team.value = sel;
    fill("keys-list", panel("Virtual keys", tableOf(["Name", "Key", "Team", "Status", "Budget", "Balance", "Limits", ""],
      keys.keys.map(k => el("tr", { class: k.status === "revoked" ? "revoked" : "", "data-key": k.id, "data-name": k.name },
        td(el("b", { text: k.name })), td(el("span", { class: "mono", text: k.hint || k.id })), td(k.team || "–"), td(statusBadge(k.status)),
        td(k.budget ? el("div", {}, fmtUSD(k.budget.spent_usd) + " of " + fmtUSD(k.budget.limit_usd) + " " + k.budget.period,
          meter(k.budget.spent_usd + k.budget.reserved_usd, k.budget.limit_usd)) : el("span", { class: "muted", text: "none" })),
        td(k.balance ? el("div", {}, fmtUSD(k.balance.remaining_usd) + " left", el("div", { class: "muted small", text: "of " + fmtUSD(k.balance.topped_up_usd) + " topped up" })) : "–"),
        td(limitsText(k)),
        td(k.status === "revoked" ? "" : el("div", { class: "actions" },
          el("button", { type: "button", class: "light small", onclick: () => editKey(k, refresh) }, "Edit"),
          k.prepaid ? el("button", { type: "button", class: "light small", onclick: () => topUp(k, refresh) }, "Top up") : null,
          el("button", { type: "button", class: "danger small", "data-action": "revoke", onclick: () => revokeKey(k, refresh) }, "Revoke"))))),
      "no virtual keys yet: create one above")));
    fill("teams-list", panel("Teams", tableOf(["Team", "Keys", "Budget", "Limits", ""], teams.teams.map(t => el("tr", {},
      td(el("b", { text: t.name })), num(fmtInt(t.keys)),
      td(t.budget ? el("div", {}, fmtUSD(t.budget.spent_usd) + " of " + fmtUSD(t.budget.limit_usd) + " " + t.budget.period,
        meter(t.budget.spent_usd + t.budget.reserved_usd, t.budget.limit_usd)) : el("span", { class: "muted", text: "none" })),
      td(limitsText(t)),
      td(el("button", { type: "button", class: "light small", onclick: () => editTeam(t, refresh) }, "Edit")))), "no teams yet")));
  }
  return refresh;
}
function limitsText(k) {
  const p = [];
  if (k.rpm) p.push(fmtInt(k.rpm) + " rpm");
  if (k.tpm) p.push(fmtInt(k.tpm) + " tpm");
  if (k.max_parallel) p.push(k.max_parallel + " parallel");
  if (k.models && k.models.length) p.push("models: " + k.models.join(", "));
  return p.length ? p.join(" · ") : "none";
}

// A modal form: fields [{name, label, value, type}] -> values, or null.
function modal(title, fields, submitText, danger) {
  const d = $("#dialog"), form = clear($("#dialog-form"));
  const inputs = {};
  form.append(el("h2", { text: title }));
  for (const fl of fields) {
    if (fl.text) { form.append(el("p", { text: fl.text })); continue; }
    inputs[fl.name] = el("input", { name: fl.name, type: fl.type || "text", value: fl.value === undefined ? "" : fl.value, step: fl.type === "number" ? "any" : null });
    form.append(el("label", {}, fl.label, inputs[fl.name]));
  }
  form.append(el("div", { class: "actions" }, el("button", { value: "ok", class: danger ? "danger" : "", id: "dialog-ok" }, submitText),
    el("button", { value: "cancel", class: "light", formnovalidate: true }, "Cancel")));
  return new Promise(resolve => {
    d.addEventListener("close", () => {
      if (d.returnValue !== "ok") return resolve(null);
      const out = {};
      for (const k in inputs) out[k] = inputs[k].value;
      resolve(out);
    }, { once: true });
    d.returnValue = "";
    d.showModal();
  });
}
const optNum = v => (v === "" ? undefined : +v);

async function editKey(k, refresh) {
  const v = await modal("Edit key " + k.name, [
    { name: "budget_usd", label: "Budget (USD, 0 = none)", type: "number", value: k.budget_usd },
    { name: "budget_period", label: "Budget period (daily, weekly, monthly, total)", value: k.budget_period || "monthly" },
    { name: "rpm", label: "Requests per minute (0 = none)", type: "number", value: k.rpm },
    { name: "tpm", label: "Tokens per minute (0 = none)", type: "number", value: k.tpm },
    { name: "max_parallel", label: "Max parallel requests (0 = none)", type: "number", value: k.max_parallel },
    { name: "models", label: "Models (comma separated, empty = every model)", value: (k.models || []).join(", ") }], "Save");
  if (!v) return;
  const patch = { budget_usd: optNum(v.budget_usd), rpm: optNum(v.rpm), tpm: optNum(v.tpm), max_parallel: optNum(v.max_parallel),
    models: v.models.split(",").map(s => s.trim()).filter(Boolean) };
  if (v.budget_period) patch.budget_period = v.budget_period;
  try { await api("/admin/keys/" + encodeURIComponent(k.id), { method: "PATCH", body: patch }); toast("saved " + k.name); await refresh(); }
  catch (e) { toast(e.message, true); }
}
async function topUp(k, refresh) {
  const v = await modal("Top up " + k.name, [{ name: "amount", label: "Amount (USD)", type: "number", value: "10" },
    { name: "note", label: "Note", value: "" }], "Top up");
  if (!v) return;
  try {
    await api("/admin/keys/" + encodeURIComponent(k.id) + "/topup", { method: "POST", body: { amount_usd: +v.amount, note: v.note || undefined } });
    toast("topped up " + k.name); await refresh();
  } catch (e) { toast(e.message, true); }
}
async function revokeKey(k, refresh) {
  const v = await modal("Revoke " + k.name + "?", [{ text: "Requests with this key are refused from now on. This cannot be undone." }], "Revoke", true);
  if (!v) return;
  try { await api("/admin/keys/" + encodeURIComponent(k.id) + "/revoke", { method: "POST" }); toast("revoked " + k.name); await refresh(); }
  catch (e) { toast(e.message, true); }
}
async function editTeam(t, refresh) {
  const v = await modal("Edit team " + t.name, [
    { name: "budget_usd", label: "Budget (USD, 0 = none)", type: "number", value: t.budget_usd },
    { name: "budget_period", label: "Budget period", value: t.budget_period || "monthly" },
    { name: "rpm", label: "Requests per minute", type: "number", value: t.rpm },
    { name: "tpm", label: "Tokens per minute", type: "number", value: t.tpm }], "Save");
  if (!v) return;
  const patch = { budget_usd: optNum(v.budget_usd), rpm: optNum(v.rpm), tpm: optNum(v.tpm) };
  if (v.budget_period) patch.budget_period = v.budget_period;
  try { await api("/admin/teams/" + encodeURIComponent(t.name), { method: "PATCH", body: patch }); toast("saved team " + t.name); await refresh(); }
  catch (e) { toast(e.message, true); }
}

// ---- Request log ----------------------------------------------------------------
function requestTable(recs, empty) {
  return tableOf(["Time", "Status", "Model", "Provider", "#Attempts", "#Latency", "#TTFT", "#Tokens in/out", "#Cost", "Key"],
    recs.map(r => el("tr", { class: "click", "data-id": r.id, onclick: () => { location.hash = "#/requests/" + encodeURIComponent(r.id); } },
      td(fmtTime(r.time)), td(httpBadge(r.status)),
      td(r.model_served && r.model_served !== r.model_asked ? r.model_asked + " → " + r.model_served : r.model_asked || "–"),
      td(r.provider || "–"), num((r.attempts || 0) + (r.fallback ? " ↪" : "")), num(fmtMS(r.latency_ms)), num(r.stream ? fmtMS(r.ttft_ms) : "–"),
      num(fmtInt(r.input_tokens) + " / " + fmtInt(r.output_tokens)), num(r.priced ? fmtUSD(r.cost_usd) : "–"),
      td(keyName(r.key_id)))), empty || "no requests match");
}
function keyName(id) {
  if (!id) return "–";
  const k = state.keys.find(k => k.id === id);
  return k ? k.name : id.slice(0, 10);
}

function pageRequests(main, args) {
  if (args[0]) return pageRequest(main, args[0]);
  const saved = JSON.parse(sessionStorage.getItem("req-filter") || "{}");
  const f = {
    key: el("select", { id: "f-key" }, el("option", { value: "", text: "any key" })),
    model: el("input", { id: "f-model", placeholder: "any model", value: saved.model || "" }),
    provider: el("input", { id: "f-provider", placeholder: "any provider", value: saved.provider || "" }),
    status: el("select", { id: "f-status" }, [["", "any status"], ["ok", "ok"], ["error", "error"]].map(([v, t]) => el("option", { value: v, text: t }))),
    since: el("select", { id: "f-since" }, [["", "any time"], ["15m", "last 15 min"], ["1h", "last hour"], ["24h", "last 24 h"], ["7d", "last 7 days"]].map(([v, t]) => el("option", { value: v, text: t }))),
    limit: el("select", { id: "f-limit" }, ["50", "100", "500"].map(v => el("option", { value: v, text: v + " rows" }))),
  };
  f.status.value = saved.status || ""; f.since.value = saved.since || ""; f.limit.value = saved.limit || "100";
  const form = el("form", { class: "row", id: "req-filter" }, Object.entries(f).map(([k, e]) => el("label", {}, k, e)),
    el("button", { type: "submit" }, "Apply"));
  form.addEventListener("submit", ev => { ev.preventDefault(); kick(refresh); });
  for (const e of [f.key, f.status, f.since, f.limit]) e.addEventListener("change", () => kick(refresh));
  main.append(el("h1", { text: "Request log" }), panel("", form), slot("req-list"));
  let keysLoaded = false;
  async function refresh() {
    const q = new URLSearchParams();
    const vals = {};
    for (const k in f) { vals[k] = f[k].value.trim(); if (vals[k]) q.set(k, vals[k]); }
    sessionStorage.setItem("req-filter", JSON.stringify(vals));
    if (!keysLoaded) {
      try {
        state.keys = (await api("/admin/keys?include_revoked=true")).keys; keysLoaded = true;
        for (const k of state.keys) f.key.append(el("option", { value: k.id, text: k.name }));
        f.key.value = saved.key || "";
        if (f.key.value) q.set("key", f.key.value);
      } catch (_) { keysLoaded = true; /* keys need the store; the log works without */ }
    }
    let d;
    try { d = await api("/logs?" + q.toString()); } catch (e) { fail("req-list", e); throw e; }
    state.logs = d.data;
    fill("req-list", panel(d.data.length + " requests, newest first (click one for its detail)", requestTable(d.data)));
  }
  return refresh;
}

function pageRequest(main, id) {
  main.append(el("p", {}, el("a", { href: "#/requests", text: "← all requests" })), slot("req-detail"));
  async function refresh() {
    let r = state.logs.find(x => x.id === id);
    if (!r) {
      const d = await api("/logs?limit=10000");
      r = d.data.find(x => x.id === id);
    }
    if (!r) { fill("req-detail", panel("Request " + id, el("p", { class: "muted", text: "not in the request log (it may have aged out)" }))); return; }
    const kv = (k, v) => [el("dt", { text: k }), el("dd", {}, v)];
    const retries = Math.max(0, (r.attempts || 0) - 1);
    fill("req-detail", el("div", { class: "stack", id: "request-detail" },
      panel("Request " + r.id, el("dl", { class: "kv" },
        kv("Time", fmtTime(r.time)), kv("Status", httpBadge(r.status)),
        r.error_kind ? kv("Error", el("span", {}, badge(r.error_kind, "bad"), " ", r.error || "")) : [],
        kv("Client format", r.client_format + " · " + r.op + (r.stream ? " · streamed" : "")),
        kv("Model asked", r.model_asked || "–"), kv("Served by", (r.provider || "–") + (r.model_served ? " / " + r.model_served : "")),
        kv("Attempts", String(r.attempts || 0) + (retries ? " (" + retries + " retr" + (retries === 1 ? "y" : "ies") + " or fallback" + (retries === 1 ? "" : "s") + ")" : "")),
        kv("Fallback", r.fallback ? badge("served by a fallback, not the first target", "warn") : "no: the first target served it"),
        kv("Latency", fmtMS(r.latency_ms)), kv("Time to first token", r.stream ? fmtMS(r.ttft_ms) : "– (not streamed)"),
        kv("Tokens", fmtInt(r.input_tokens) + " in · " + fmtInt(r.output_tokens) + " out" + (r.cached_tokens ? " · " + fmtInt(r.cached_tokens) + " cached" : "") +
          (r.reasoning_tokens ? " · " + fmtInt(r.reasoning_tokens) + " reasoning" : "") + (r.tokens_estimated ? " (estimated locally)" : "")),
        kv("Cost", r.priced ? fmtUSD(r.cost_usd) : "unpriced model"),
        kv("Key", r.key_id ? keyName(r.key_id) + " (" + r.key_id + ")" : "master key or open gateway"), kv("Team", r.team || "–"))),
      r.prompt ? panel("Prompt", el("pre", { class: "content", text: r.prompt })) : null,
      r.completion ? panel("Completion", el("pre", { class: "content", text: r.completion })) : null));
  }
  return refresh;
}

// ---- Spend report -------------------------------------------------------------------
function pageSpend(main) {
  const group = el("select", { id: "sp-group" }, ["key", "team", "model", "provider", "day"].map(g => el("option", { value: g, text: g })));
  const since = el("select", { id: "sp-since" }, [["24h", "last 24 h"], ["7d", "last 7 days"], ["30d", "last 30 days"], ["", "all time"]].map(([v, t]) => el("option", { value: v, text: t })));
  group.value = sessionStorage.getItem("sp-group") || "key";
  since.value = sessionStorage.getItem("sp-since") ?? "30d";
  for (const e of [group, since]) e.addEventListener("change", () => { sessionStorage.setItem("sp-group", group.value); sessionStorage.setItem("sp-since", since.value); kick(refresh); });
  main.append(el("div", { class: "row" }, el("h1", { text: "Spend" }), el("div", { class: "spacer" }),
    el("label", {}, "Group by", group), el("label", {}, "Since", since)), slot("sp-report"));
  async function refresh() {
    let rep;
    try { rep = await api("/admin/usage?group_by=" + group.value + (since.value ? "&since=" + since.value : "")); } catch (e) { fail("sp-report", e); throw e; }
    const maxCost = Math.max(0, ...rep.rows.map(r => r.cost_usd));
    const rows = rep.rows.map(r => el("tr", {}, td(el("b", { text: r.name || r.group || "(none)" }), ""),
      num(fmtInt(r.requests)), num(fmtInt(r.errors)), num(fmtInt(r.input_tokens)), num(fmtInt(r.output_tokens)),
      num(fmtUSD(r.cost_usd)), td(meter(r.cost_usd, maxCost, true))));
    const t = rep.total;
    rows.push(el("tr", {}, td(el("b", { text: "total" })), num(fmtInt(t.requests)), num(fmtInt(t.errors)), num(fmtInt(t.input_tokens)),
      num(fmtInt(t.output_tokens)), num(el("b", { text: fmtUSD(t.cost_usd) })), td("")));
    const kids = [panel("Spend by " + rep.group_by, tableOf([rep.group_by, "#Requests", "#Errors", "#Input tokens", "#Output tokens", "#Cost", "Share"], rows))];
    if (rep.group_by === "day" && rep.rows.length) {
      kids.unshift(panel("Spend per day", lineChart(rep.rows.map(r => r.group + "T00:00:00Z"), [{ name: "USD", values: rep.rows.map(r => r.cost_usd), color: COLORS[4] }],
        fmtAxisUSD, { bars: true, fmtX: v => v.slice(5, 10) })));
    }
    fill("sp-report", ...kids);
  }
  return refresh;
}

boot();
