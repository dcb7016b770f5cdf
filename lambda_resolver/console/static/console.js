// lakehook console: runs, a run's DAG (live), a task's value/error/log, and the operator's actions.
// Plain ES module, no build step; every request goes to this page's own origin.

const FINAL_RUN = new Set(["SUCCESS", "SUCCESS_WITH_FAILURES", "FAILED", "CANCELED", "TIMEDOUT"]);
const RUN_STATES = ["PENDING", "RUNNING", ...FINAL_RUN];
const FILL = {
  WAITING: "#e3e6eb", TRIGGERING: "#5b8de0", RUNNING: "#2f6fd6", RETRY_WAIT: "#d98e1c",
  SUCCESS: "#2e9e5b", FAILED: "#d9463b", TIMEDOUT: "#b8362d", CANCELED: "#8a5a57",
  UPSTREAM_FAILED: "#a7716d", UPSTREAM_CANCELED: "#a7716d", EXCLUDED: "#c4c9d1",
};
const NODE_W = 150, NODE_H = 34, COL_GAP = 56, MIN_SCALE = 0.7, ROW_GAP = 14, PAD = 16, MAX_ROWS = 12;
const SVG = "http://www.w3.org/2000/svg";

const main = document.getElementById("main");
const statusEl = document.getElementById("status");
let timer = null;
let view = 0; // bumps on every navigation: a stale poll does not draw over a newer view

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  for (const c of children) node.append(c);
  return node;
}

function badge(state) {
  return el("span", { class: `badge s-${state}`, "data-state": state }, state);
}

function say(text, error = false) {
  statusEl.textContent = text;
  statusEl.className = error ? "error" : "";
}

async function api(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { raw: text }; }
  if (!response.ok) {
    const message = data && data.error ? `${data.error.code}: ${data.error.message}` : `HTTP ${response.status}`;
    throw new Error(message);
  }
  return data;
}

function pretty(value) {
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

// ---- runs list -------------------------------------------------------------------------------

async function showRuns(params) {
  const mine = view;
  const flow = params.get("flow") || "";
  const state = params.get("state") || "";
  const body = el("tbody");
  const more = el("button", { type: "button", id: "more", hidden: true }, "More");
  const form = el("form", { class: "filters", id: "filters" },
    el("label", {}, "Flow ", el("input", { name: "flow", value: flow, placeholder: "any" })),
    el("label", {}, "State ", el("select", { name: "state" },
      el("option", { value: "" }, "any"),
      RUN_STATES.map((s) => el("option", { value: s, selected: s === state }, s)))),
    el("button", { type: "submit", class: "primary" }, "Filter"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) q.set(k, String(v));
    location.hash = `#/?${q}`;
  });
  main.replaceChildren(el("h1", {}, "Runs"), form,
    el("table", { id: "runs" }, el("thead", {}, el("tr", {},
      ["Run", "Flow", "State", "Trigger", "Created"].map((h) => el("th", {}, h)))), body), more);

  let cursor = null;
  async function page() {
    const q = new URLSearchParams({ limit: params.get("limit") || "25" });
    if (flow) q.set("flow", flow);
    if (state) q.set("state", state);
    if (cursor) q.set("cursor", cursor);
    const data = await api("GET", `/v1/runs?${q}`);
    if (mine !== view) return;
    for (const run of data.runs) {
      body.append(el("tr", { "data-run": run.run_id },
        el("td", {}, el("a", { href: `#/runs/${encodeURIComponent(run.run_id)}` }, run.run_id)),
        el("td", {}, run.flow), el("td", {}, badge(run.state)),
        el("td", {}, run.trigger ? run.trigger.type || pretty(run.trigger) : ""),
        el("td", {}, run.created_at || "")));
    }
    if (!data.runs.length && !body.children.length) body.append(el("tr", {}, el("td", { colspan: 5, class: "muted" }, "No runs.")));
    cursor = data.next_cursor;
    more.hidden = !cursor;
  }
  more.addEventListener("click", () => page().catch((e) => say(e.message, true)));
  await page();
}

// ---- one run: DAG, task panel, actions -------------------------------------------------------

function layout(tasks) {
  // Depth = longest dependency path from a root; each depth is a column, a tall column wraps
  // into sub-columns of MAX_ROWS so a 40-wide fan-out stays readable (the pane scrolls).
  const byKey = new Map(tasks.map((t) => [t.key, t]));
  const depth = new Map();
  const depthOf = (key, seen = new Set()) => {
    if (depth.has(key)) return depth.get(key);
    if (seen.has(key)) return 0;
    seen.add(key);
    const deps = (byKey.get(key)?.depends_on || []).filter((d) => byKey.has(d.task_key));
    const d = deps.length ? 1 + Math.max(...deps.map((p) => depthOf(p.task_key, seen))) : 0;
    depth.set(key, d);
    return d;
  };
  tasks.forEach((t) => depthOf(t.key));
  const layers = [];
  for (const t of tasks) (layers[depth.get(t.key)] ||= []).push(t.key);
  const pos = new Map();
  let x = PAD, height = 0;
  for (const layer of layers.filter(Boolean)) {
    const cols = Math.ceil(layer.length / MAX_ROWS);
    layer.forEach((key, i) => {
      const col = Math.floor(i / MAX_ROWS), row = i % MAX_ROWS;
      pos.set(key, { x: x + col * (NODE_W + 18), y: PAD + row * (NODE_H + ROW_GAP) });
    });
    height = Math.max(height, Math.min(layer.length, MAX_ROWS) * (NODE_H + ROW_GAP));
    x += cols * (NODE_W + 18) - 18 + COL_GAP;
  }
  return { pos, width: x - COL_GAP + PAD, height: height + PAD * 2 };
}

function drawDag(manifest, tasksByKey, selected, onPick) {
  const tasks = manifest.tasks;
  const { pos, width, height } = layout(tasks);
  const root = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "run DAG" });
  // Shrinks to fit the pane (CSS max-width), but not below MIN_SCALE: wider than that, the pane scrolls.
  root.style.minWidth = `${Math.round(width * MIN_SCALE)}px`;
  const edges = svg("g", { class: "edges" });
  const nodes = svg("g", { class: "nodes" });
  for (const t of tasks) {
    for (const dep of t.depends_on || []) {
      const a = pos.get(dep.task_key), b = pos.get(t.key);
      if (!a || !b) continue;
      const x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2, x2 = b.x, y2 = b.y + NODE_H / 2;
      const mid = (x1 + x2) / 2;
      edges.append(svg("path", { d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`, "data-edge": `${dep.task_key}->${t.key}` }));
      if (dep.outcome !== undefined && dep.outcome !== null) {
        const label = svg("text", { x: mid, y: (y1 + y2) / 2 - 4, "text-anchor": "middle", class: "edge-label" });
        label.textContent = String(dep.outcome);
        edges.append(label);
      }
    }
  }
  for (const t of tasks) {
    const p = pos.get(t.key);
    const state = tasksByKey.get(t.key)?.state || "WAITING";
    const g = svg("g", { class: `node ${state}${t.key === selected ? " selected" : ""}`, "data-task": t.key, "data-state": state, transform: `translate(${p.x},${p.y})`, tabindex: 0 });
    const title = svg("title");
    title.textContent = `${t.key} (${t.kind || "task"}) — ${state}${t.run_if && t.run_if !== "ALL_SUCCESS" ? ` — run_if ${t.run_if}` : ""}`;
    const label = svg("text", { x: 10, y: NODE_H / 2 + 4 });
    label.textContent = t.key.length > 20 ? `${t.key.slice(0, 19)}…` : t.key;
    g.append(title, svg("rect", { width: NODE_W, height: NODE_H, rx: 6, fill: FILL[state] || "#9aa3af" }), label);
    const loop = tasksByKey.get(t.key)?.iterations;
    if (loop) {  // a for_each task: one node, its iterations counted
      const ended = Object.entries(loop).filter(([k]) => !["total", "PENDING", "RUNNING"].includes(k)).reduce((n, [, v]) => n + v, 0);
      const counts = svg("text", { x: NODE_W - 6, y: NODE_H - 5, "text-anchor": "end", class: "edge-label", "data-iterations": t.key });
      counts.textContent = `${ended}/${loop.total}`;
      title.textContent += ` — iterations ${iterationText(loop)}`;
      g.append(counts);
    }
    g.addEventListener("click", () => onPick(t.key));
    g.addEventListener("keydown", (e) => { if (e.key === "Enter") onPick(t.key); });
    nodes.append(g);
  }
  root.append(edges, nodes);
  return root;
}

function iterationText(loop) {
  return Object.entries(loop).map(([k, v]) => `${k} ${v}`).join(" · ");
}

async function showRun(runId) {
  const mine = view;
  let selected = null;
  let manifest = null;
  let run = null;
  const dagPane = el("div", { class: "dag", id: "dag" });
  const panel = el("aside", { class: "panel", id: "task-panel" }, el("p", { class: "muted" }, "Click a task to see its value, error and log."));
  const head = el("div", { id: "run-head" });
  const actions = el("div", { class: "actions", id: "run-actions" });
  main.replaceChildren(head, actions, el("div", { class: "run-layout" }, dagPane, panel));

  async function act(label, fn) {
    try {
      say(`${label}…`);
      await fn();
      say(`${label}: done`);
      await refresh();
      clearTimeout(timer);
      if (!FINAL_RUN.has(run.state)) timer = setTimeout(poll, 1000);  // e.g. a repaired run runs again
    } catch (e) {
      say(`${label}: ${e.message}`, true);
    }
  }

  function drawHead() {
    head.replaceChildren(el("h1", {}, `${run.flow} `, el("span", { class: "muted" }, run.run_id), " ", el("span", { id: "run-state" }, badge(run.state))),
      el("p", { class: "muted" }, `repairs: ${run.repair_count ?? 0}`, run.trigger ? ` · trigger: ${run.trigger.type || pretty(run.trigger)}` : ""));
    const buttons = [];
    if (!FINAL_RUN.has(run.state)) {
      buttons.push(el("button", { type: "button", class: "danger", id: "cancel", onclick: () => act("cancel", () => api("POST", `/v1/runs/${encodeURIComponent(run.run_id)}/cancel`)) }, "Cancel run"));
    } else if (run.state !== "SUCCESS") {
      buttons.push(el("button", { type: "button", class: "primary", id: "repair", onclick: () => act("repair", () => {
        const body = {};
        if (run.latest_repair_id) body.latest_repair_id = run.latest_repair_id;
        return api("POST", `/v1/runs/${encodeURIComponent(run.run_id)}/repair`, body);
      }) }, "Repair failed tasks"));
    }
    actions.replaceChildren(...buttons);
  }

  async function drawPanel() {
    if (!selected) return;
    const t = run.tasks.find((x) => x.task_key === selected);
    const spec = manifest.tasks.find((x) => x.key === selected);
    if (!t) return;
    const parts = [el("h2", {}, selected, " ", badge(t.state)),
      el("dl", {},
        el("dt", {}, "kind"), el("dd", {}, spec?.kind || ""),
        el("dt", {}, "attempt"), el("dd", {}, t.attempt),
        ...(t.iterations ? [el("dt", {}, "iterations"), el("dd", { id: "task-iterations" }, iterationText(t.iterations))] : []),
        el("dt", {}, "promise"), el("dd", {}, t.promise_id || "—"),
        el("dt", {}, "Databricks run"), el("dd", {}, t.run_page_url
          ? el("a", { href: t.run_page_url, target: "_blank", rel: "noopener noreferrer", id: "databricks-link" }, String(t.databricks_run_id ?? "open"))
          : String(t.databricks_run_id ?? "—")),
        el("dt", {}, "triggered"), el("dd", {}, t.triggered_at || "—"),
        el("dt", {}, "settled"), el("dd", {}, t.settled_at || "—"))];
    if (t.value !== undefined && t.value !== null) parts.push(el("h2", {}, "Value"), el("pre", { id: "task-value" }, pretty(t.value)));
    if (t.value_omitted) parts.push(el("p", { class: "muted" }, "The value is too large for the run document: GET /v1/runs/{id}/tasks/{key} has it."));
    if (t.error) parts.push(el("h2", {}, "Error"), el("pre", { class: "error", id: "task-error" }, pretty(t.error)));
    const waiting = ["RUNNING", "TRIGGERING"].includes(t.state) && t.promise_id && !t.databricks_run_id && spec?.kind === "external";
    if (waiting) {
      const input = el("textarea", { id: "resolve-value", "aria-label": "value (JSON)" }, '{"approved": true}');
      parts.push(el("h2", {}, "Resolve this gate"),
        el("form", { id: "resolve-form", onsubmit: (e) => {
          e.preventDefault();
          let value;
          try { value = JSON.parse(input.value); } catch (err) { say(`the value is not JSON: ${err.message}`, true); return; }
          act("resolve", () => api("POST", `/v1/promises/${encodeURIComponent(t.promise_id)}/resolve`, { value }));
        } }, input, el("button", { type: "submit", class: "primary", id: "resolve" }, "Resolve")));
    }
    const logBox = el("pre", { id: "task-log" }, "loading…");
    parts.push(el("h2", {}, "Log"), logBox);
    panel.replaceChildren(...parts);
    if (t.attempt > 0) {
      try {
        const logs = await api("GET", `/v1/runs/${encodeURIComponent(run.run_id)}/tasks/${encodeURIComponent(selected)}/logs`);
        const lines = [];
        if (logs.note) lines.push(logs.note);
        if (logs.databricks) {
          const d = logs.databricks;
          lines.push([d.life, d.result].filter(Boolean).join(" / ") + (d.message ? `: ${d.message}` : ""));
        }
        for (const sub of logs.tasks || []) {
          lines.push(`--- ${sub.task_key} (${sub.result || sub.life || "?"})`);
          lines.push(sub.logs || sub.error_trace || sub.error || "(no log)");
          if (sub.logs_truncated) lines.push("(truncated)");
        }
        logBox.textContent = lines.join("\n") || "(empty)";
      } catch (e) {
        logBox.textContent = `could not read the log: ${e.message}`;
      }
    } else {
      logBox.textContent = "the task has not started";
    }
  }

  function pick(key) {
    selected = key;
    draw();
    drawPanel();
  }

  function draw() {
    const byKey = new Map(run.tasks.map((t) => [t.task_key, t]));
    const scroll = [dagPane.scrollLeft, dagPane.scrollTop];
    dagPane.replaceChildren(drawDag(manifest, byKey, selected, pick));
    [dagPane.scrollLeft, dagPane.scrollTop] = scroll;
  }

  async function refresh() {
    const before = run ? JSON.stringify(run.tasks.find((x) => x.task_key === selected) || null) : "";
    run = await api("GET", `/v1/runs/${encodeURIComponent(runId)}`);
    if (mine !== view) return;
    const version = run.flow_version ?? run.version;
    if (!manifest) manifest = await api("GET", `/v1/flows/${encodeURIComponent(run.flow)}${version ? `?version=${version}` : ""}`);
    drawHead();
    draw();
    const after = JSON.stringify(run.tasks.find((x) => x.task_key === selected) || null);
    if (selected && before !== after) await drawPanel();
  }

  async function poll() {
    if (mine !== view) return;
    try {
      await refresh();
      say(FINAL_RUN.has(run.state) ? "" : "live");
    } catch (e) {
      say(e.message, true);
    }
    if (mine === view && run && !FINAL_RUN.has(run.state)) timer = setTimeout(poll, 1000);
  }
  await poll();
}

// ---- schedules ---------------------------------------------------------------------------------

async function showSchedules() {
  const mine = view;
  const data = await api("GET", "/v1/schedules");
  if (mine !== view) return;
  const rows = data.schedules.map((s) => el("tr", { "data-flow": s.flow },
    el("td", {}, s.flow),
    el("td", {}, s.schedule ? s.schedule.quartz_cron_expression || pretty(s.schedule) : "—"),
    el("td", {}, s.active ? "active" : "paused"),
    el("td", {}, s.next_at || "—"),
    el("td", {}, el("button", { type: "button", onclick: async () => {
      try {
        await api("POST", `/v1/flows/${encodeURIComponent(s.flow)}/schedule/${s.active ? "pause" : "resume"}`);
        say(`${s.flow}: ${s.active ? "paused" : "resumed"}`);
        showSchedules();
      } catch (e) { say(e.message, true); }
    } }, s.active ? "Pause" : "Resume"))));
  main.replaceChildren(el("h1", {}, "Schedules"),
    el("table", { id: "schedules" }, el("thead", {}, el("tr", {}, ["Flow", "Schedule", "State", "Next", ""].map((h) => el("th", {}, h)))),
      el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: 5, class: "muted" }, "No schedules.")))));
}

// ---- routing -----------------------------------------------------------------------------------

async function route() {
  view += 1;
  clearTimeout(timer);
  say("");
  const [path, query] = (location.hash.slice(1) || "/").split("?");
  const params = new URLSearchParams(query || "");
  try {
    if (path.startsWith("/runs/")) await showRun(decodeURIComponent(path.slice(6)));
    else if (path === "/schedules") await showSchedules();
    else await showRuns(params);
  } catch (e) {
    say(e.message, true);
  }
}

window.addEventListener("hashchange", route);
route();
