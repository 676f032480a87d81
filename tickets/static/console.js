// citywatch dispatch console: polls the tickets API, draws the city as inline SVG (no tiles, no CDN).
"use strict";
const RULES = { route_deviation: "线路偏移", uncovered_load: "未密闭", overflow: "满溢", fill_forecast: "满溢预警",
  unpermitted_transport: "无证运输", out_of_window: "超时段运输", suspended_operation: "停运企业车辆运营",
  trip_not_delivered: "未到消纳场", illegal_dumping: "偷倒乱倒", dirty_truck: "车轮带泥", forbidden_zone: "闯禁行区",
  speeding: "超速", pm10: "工地扬尘", noise: "施工噪声", night_work: "夜间施工", odour: "恶臭",
  missed_collection: "未按时收运", camera: "视频识别", gps_anomaly: "定位异常", silent_device: "设备离线" };
const SOURCES = { sensor: "传感器", camera: "视频", inspector: "监督员上报", hotline: "热线", system: "系统" };
const EVIDENCE = { alert: "告警", note: "备注", photo: "照片", verification: "核查" };
const PHASES = { open: "告警", update: "升级", clear: "解除" };
let H = 640;
const SEV = { info: "提示", warning: "一般", major: "较重", critical: "严重" };
const W = 1000, NS = "http://www.w3.org/2000/svg";
const S = { token: null, me: null, meta: null, map: null, live: null, cases: [], alerts: [], selected: null,
  detail: null, track: null, bbox: null, busy: false };
const $ = (id) => document.getElementById(id);
const fmtTime = new Intl.DateTimeFormat("zh-CN", { timeZone: "Asia/Shanghai", hour12: false, month: "2-digit",
  day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
const fmtClock = new Intl.DateTimeFormat("zh-CN", { timeZone: "Asia/Shanghai", hour12: false, hour: "2-digit",
  minute: "2-digit", second: "2-digit" });
const t = (ms) => (ms ? fmtTime.format(new Date(ms)).replace(/\//g, "-") : "—");
const hms = (ms) => fmtClock.format(new Date(ms));
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const pct = (x) => (x === null || x === undefined ? "—" : (x * 100).toFixed(1) + "%");
const hours = (ms) => (ms / 3600000).toFixed(1);

// A failed request is told in Chinese: the server's message_zh, else one by HTTP status; the English detail
// (for whoever reports the problem) only as secondary text.
const STATUS_ZH = { 400: "请求有误，请检查后重试", 401: "登录已失效，请重新输入令牌登录", 403: "无权执行此操作",
  404: "未找到该案件或数据，可能已被删除", 409: "案件已被他人更新或当前阶段不允许此操作，请刷新后重试",
  413: "提交的内容过大", 415: "请求格式有误", 422: "填写的内容有误，请检查后重试", 429: "操作过于频繁，请稍后再试" };
const SERVER_DOWN = "服务暂时不可用，请稍后再试", OFFLINE = "无法连接服务器，请检查网络后重试";

function english(detail) {
  if (Array.isArray(detail)) return detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
  return typeof detail === "string" ? detail : "";
}

function failure(status, body) {
  const zh = body.message_zh || STATUS_ZH[status] || (status >= 500 ? SERVER_DOWN : `请求未能完成 (HTTP ${status})`);
  return Object.assign(new Error(zh), { status, code: body.code || null, detail: english(body.detail) });
}

async function api(path, opts = {}) {
  const headers = { "Content-Type": "application/json" };
  if (S.token) headers.Authorization = "Bearer " + S.token;
  let resp;
  try { resp = await fetch(path, { ...opts, headers }); }
  catch (e) { throw Object.assign(new Error(OFFLINE), { status: 0, code: "network", detail: String(e.message || e) }); }
  const body = await resp.json().catch(() => ({}));
  if (resp.status === 401) logout();
  if (!resp.ok) throw failure(resp.status, body || {});
  return body;
}

function toast(msg, err = false, detail = "") {
  const el = $("toast"); el.textContent = msg; el.className = "toast show" + (err ? " err" : "");
  if (detail) { const sub = document.createElement("div"); sub.className = "muted"; sub.textContent = detail; el.appendChild(sub); }
  clearTimeout(toast.timer); toast.timer = setTimeout(() => { el.className = "toast"; }, err ? 6000 : 3500);
}

const failed = (what, e) => toast(what ? `${what}：${e.message}` : e.message, true, e.detail);

function el(tag, attrs = {}, parent = null) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

// ---------------------------------------------------------------- map projection
function computeBbox(map) {
  const pts = [];
  for (const r of [...map.routes, ...map.rounds]) pts.push(...r.points);
  for (const c of map.grid) for (const ring of c.rings) pts.push(...ring);
  for (const p of [...map.facilities, ...map.sites]) pts.push([p.lon, p.lat]);
  if (!pts.length && map.center) pts.push(map.center);
  let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const [x, y] of pts) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  const px = (x1 - x0) * 0.08 || 0.01, py = (y1 - y0) * 0.1 || 0.01;
  const box = { x0: x0 - px, x1: x1 + px, y0: y0 - py, y1: y1 + py, k: Math.cos(((y0 + y1) / 2) * Math.PI / 180) };
  H = Math.round(W * (box.y1 - box.y0) / ((box.x1 - box.x0) * box.k));
  $("map").setAttribute("viewBox", `0 0 ${W} ${H}`);
  return box;
}

function proj(lon, lat) {
  const b = S.bbox, sx = W / ((b.x1 - b.x0) * b.k), sy = H / (b.y1 - b.y0), s = Math.min(sx, sy);
  const ox = (W - (b.x1 - b.x0) * b.k * s) / 2, oy = (H - (b.y1 - b.y0) * s) / 2;
  return [ox + (lon - b.x0) * b.k * s, oy + (b.y1 - lat) * s];
}

const pathOf = (points) => points.map((p, i) => (i ? "L" : "M") + proj(p[0], p[1]).map((v) => v.toFixed(1)).join(",")).join(" ");

function drawStatic() {
  const svg = $("map"); svg.innerHTML = "";
  const bg = el("g", { id: "static" }, svg);
  for (let i = 0; i <= 20; i++) el("line", { x1: i * 50, y1: 0, x2: i * 50, y2: H, stroke: "#0d2236", "stroke-width": 1 }, bg);
  for (let j = 0; j <= Math.ceil(H / 50); j++) el("line", { x1: 0, y1: j * 50, x2: W, y2: j * 50, stroke: "#0d2236", "stroke-width": 1 }, bg);
  for (const c of S.map.grid) el("path", { d: c.rings.map((r) => pathOf(r) + "Z").join(" "), "fill-rule": "evenodd", fill: "rgba(47,180,255,0.04)", stroke: "#1b3d5e", "stroke-width": 0.8 }, bg);
  for (const r of S.map.rounds) el("path", { d: pathOf(r.points), fill: "none", stroke: "#1f7a66", "stroke-width": 3, "stroke-opacity": 0.55 }, bg);
  for (const r of S.map.routes) el("path", { d: pathOf(r.points), fill: "none", stroke: "#8a5a14", "stroke-width": 2.5, "stroke-dasharray": "7 4" }, bg);
  for (const s of S.map.sites) {
    const [x, y] = proj(s.lon, s.lat);
    el("path", { d: `M${x},${y - 9} L${x + 8},${y + 6} L${x - 8},${y + 6} Z`, fill: "#2a1d47", stroke: "#b68cff", "stroke-width": 1.5 }, bg);
    const tx = el("text", { x: x + 10, y: y + 4, fill: "#b9a4e0", "font-size": 11 }, bg); tx.textContent = s.name.split(" ")[0];
  }
  for (const f of S.map.facilities) {
    const [x, y] = proj(f.lon, f.lat);
    el("rect", { x: x - 6, y: y - 6, width: 12, height: 12, fill: "#0d2a47", stroke: "#4aa3ff", "stroke-width": 1.5, id: "fac-" + f.device_id }, bg);
    const tx = el("text", { x: x + 9, y: y - 6, fill: "#8fc3f0", "font-size": 11 }, bg); tx.textContent = f.name.split(" ")[0];
  }
  const label = el("text", { x: 12, y: 22, fill: "#3d6c96", "font-size": 14 }, bg); label.textContent = S.map.name || "";
  el("g", { id: "dyn" }, svg);
}

function drawDynamic() {
  const g = $("dyn"); if (!g || !S.live) return; g.innerHTML = "";
  if (S.track) for (const pts of Object.values(S.track.tracks)) {
    el("path", { d: pathOf(pts.map((p) => [p[1], p[2]])), fill: "none", stroke: "#ff4d4f", "stroke-width": 3, "stroke-opacity": 0.85 }, g);
  }
  for (const f of S.live.facilities) {
    if (f.lon === null) continue;
    const [x, y] = proj(f.lon, f.lat), h = Math.min(1.2, f.fill_ratio) * 22;
    const color = f.band === "severe" ? "#ff4d4f" : f.band === "slight" ? "#f5c211" : "#33d17a";
    el("rect", { x: x - 14, y: y + 8 - h, width: 5, height: h, fill: color }, g);
    const tx = el("text", { x: x - 8, y: y + 18, fill: color, "font-size": 10 }, g); tx.textContent = Math.round(f.fill_ratio * 100) + "%";
  }
  for (const s of S.live.sites) {
    if (s.lon === null) continue;
    const [x, y] = proj(s.lon, s.lat);
    const tx = el("text", { x: x + 10, y: y + 17, fill: s.pm10_ugm3 > 150 ? "#ff4d4f" : "#8d7bb0", "font-size": 10 }, g);
    tx.textContent = "PM10 " + Math.round(s.pm10_ugm3);
  }
  for (const c of S.cases) {
    if (["closed", "void"].includes(c.stage)) continue;
    const [x, y] = proj(c.lon, c.lat), sel = S.selected === c.case_id;
    el("circle", { cx: x, cy: y, r: sel ? 17 : 13, fill: "rgba(255,77,79,0.12)", stroke: c.overdue ? "#ff4d4f" : "#ff7a45",
      "stroke-width": sel ? 3 : 2, class: "pulse", "data-case": c.case_id }, g);
  }
  for (const v of S.live.vehicles) {
    const [x, y] = proj(v.lon, v.lat);
    const open = v.cover_closed === false && v.load_state !== "empty";
    el("circle", { cx: x, cy: y, r: 5.5, fill: v.kind === "garbage" ? "#2fd3a8" : "#ff9f1a", stroke: open ? "#ff4d4f" : "#06111d",
      "stroke-width": open ? 2.5 : 1.5, opacity: v.online ? 1 : 0.4 }, g);
    const tx = el("text", { x: x + 7, y: y - 6, fill: "#cfe3f5", "font-size": 10 }, g); tx.textContent = (v.plate || v.device_id).replace("鄂A·", "");
  }
  const legend = el("text", { x: W - 12, y: H - 10, fill: "#3d6c96", "font-size": 11, "text-anchor": "end" }, g);
  legend.textContent = `车辆 ${S.live.vehicles.length} · 站点 ${S.live.facilities.length} · 工地 ${S.live.sites.length} · ${hms(S.live.now_ms)}`;
}

// ---------------------------------------------------------------- panels
function renderTiles(k) {
  const o = k.overall, open = S.cases.filter((c) => !["closed", "void", "parked"].includes(c.stage));
  const supervised = open.filter((c) => c.supervision_level > 0).length;
  const online = S.live ? S.live.vehicles.filter((v) => v.online).length : 0;
  const tiles = [["在办案件", open.length, ""], ["超时", o.overdue, o.overdue ? "bad" : "ok"], ["督办中", supervised, supervised ? "warn" : ""],
    ["处置率", pct(o.handled_rate), ""], ["按期处置率", pct(o.on_time_rate), ""], ["结案率", pct(o.closed_rate), ""],
    ["案件总数 (30天)", o.total, ""], ["在线车辆", online, "ok"]];
  $("tiles").innerHTML = tiles.map(([k2, v, c]) => `<div class="tile ${c}"><div class="k">${k2}</div><div class="v">${v}</div></div>`).join("");
}

const CENTRE_ONLY = '<li class="muted">仅指挥中心可见</li>';

function renderFeed() {
  if (!S.me.city_wide) { $("feed").innerHTML = CENTRE_ONLY; $("feed-count").textContent = ""; return; }
  $("feed").innerHTML = S.alerts.map((a) => `<li><span class="t">${hms(a.ts_ms)}</span><span><b class="${a.phase}">${PHASES[a.phase] || a.phase}</b>
    ${esc(RULES[a.rule] || a.rule)} · ${esc(plate(a.subject))} <span class="sev-${a.severity}">${SEV[a.severity] || a.severity}</span></span></li>`).join("");
  $("feed-count").textContent = S.alerts.length + " 条";
}

function plate(subject) {
  const v = S.live && S.live.vehicles.find((x) => x.device_id === subject);
  if (v && v.plate) return v.plate;
  const f = S.map && S.map.facilities.find((x) => x.device_id === subject);
  return f ? f.name.split(" ")[0] : subject;
}

const short = (s) => String(s).split(" (")[0];

function deadline(c) {
  if (c.overdue) return `<span class="late">超时 ${hours(c.overdue_working_ms)} 工作时</span>`;
  if (c.remaining_working_ms === null || c.remaining_working_ms === undefined) return '<span class="muted">—</span>';
  return `<span class="${c.remaining_working_ms < 3600000 ? "due" : "ok"}">剩 ${hours(c.remaining_working_ms)} 工作时</span>`;
}

function needsReason(action) {
  return S.meta.transitions.some((tr) => tr.action === action && tr.needs_reason);
}

function actionButtons(c) {
  return c.allowed_actions.map((a) => `<button class="btn act ${a === "void" ? "danger" : ""}" data-action="${a}" data-case="${c.case_id}">${S.meta.actions[a]}</button>`).join("");
}

const QUEUE_TAGS = { maintenance: "设备维护", dispatch_ahead: "预派遣" };  // enforcement cases carry no tag

function queueTag(c) {
  const label = QUEUE_TAGS[c.queue];
  return label ? ` <span class="qtag q-${c.queue}" data-testid="queue-tag">${label}</span>` : "";
}

function renderQueue() {
  const only = $("open-only").checked, kind = $("queue-kind").value;
  const rows = S.cases.filter((c) => (!only || !["closed", "void"].includes(c.stage)) && (!kind || c.queue === kind));
  $("queue").innerHTML = rows.map((c) => `<tr data-case-id="${c.case_id}" class="${S.selected === c.case_id ? "sel" : ""}">
    <td>${esc(c.case_no)}${c.supervision_level ? ` <span class="late">督${c.supervision_level}</span>` : ""}</td>
    <td><span class="sev-${c.severity}">${esc(c.matter_name.split(" ")[0])}</span>${queueTag(c)}<br><span class="muted">${esc(c.matter_code)}</span></td>
    <td>${esc(short(c.place || c.subject))}<br><span class="muted">${esc(short(c.owner || ""))}</span></td>
    <td><span class="stage st-${c.stage}" data-testid="stage">${c.stage_label}</span></td>
    <td>${deadline(c)}</td><td>${esc(c.unit || "—")}</td><td>${actionButtons(c)}</td></tr>`).join("")
    || '<tr><td colspan="7" class="muted">暂无案件</td></tr>';
}

function renderDetail() {
  const c = S.detail; if (!c) return;
  $("detail-no").textContent = c.case_no;
  const kv = (pairs) => `<div class="kv">${pairs.map(([k, v]) => `<span class="k">${k}</span><span>${v}</span>`).join("")}</div>`;
  const left = kv([["标题", esc(c.title)], ["事项", `${esc(c.matter_code)} ${esc(c.matter_name)}`], ["阶段", `<span class="stage st-${c.stage}">${c.stage_label}</span> ${deadline(c)}`],
    ["来源", esc(SOURCES[c.source] || c.source)], ["对象", esc([...c.subjects, ...c.plates].join(" / "))], ["权属", esc(c.owner || "—")],
    ["违规状态", c.violation_active ? '<span class="late">持续中</span>' : '<span class="ok">已解除</span>']]);
  const right = kv([["责任单位", esc(c.unit || "—")], ["网格", esc(c.grid_cell || "—")], ["发现时间", t(c.discovered_ms)],
    ["阶段时限", t(c.deadline_ms)], ["处置时限", t(c.handle_deadline_ms)], ["督办/延期", `${c.supervision_level} 级 · 延期 ${c.extensions} 次`],
    ["证据", `${c.evidence_count} 条${c.linked_case_id ? ` · 关联案件 #${c.linked_case_id}` : ""}`]]);
  const buttons = c.allowed_actions.map((a) => `<button class="btn ${a === "void" ? "danger" : "primary"}" data-detail-action="${a}">${S.meta.actions[a]}</button>`).join("");
  const form = c.allowed_actions.length ? `<div class="actions-form" data-testid="actions">
    <input id="f-reason" placeholder="原因 / 意见" size="24"><input id="f-unit" placeholder="派遣单位 (默认: ${esc(c.unit || "")})" size="18">
    <input id="f-ext" placeholder="延期 如 4h / 1d" size="10">${buttons}</div>` : `<div class="actions-form muted">当前身份无可执行操作</div>`;
  const items = [...c.audit.map((a) => ({ at: a.at_ms, html: `<b>${esc(a.action_label)}</b> ${a.from_label ? esc(a.from_label) + " → " : ""}${esc(a.to_label)} · ${esc(a.actor)} (${esc(a.role_label)})${a.reason ? " · " + esc(a.reason) : ""}`, ev: false })),
    ...c.evidence.map((e) => ({ at: e.ts_ms, html: `证据 · ${esc(EVIDENCE[e.kind] || e.kind)} · ${esc(e.summary)} <span class="muted">${esc(e.source)}</span>`, ev: true }))]
    .sort((a, b) => a.at - b.at);
  const timeline = `<ul class="timeline" data-testid="timeline">${items.map((i) => `<li class="${i.ev ? "ev" : ""}"><span class="t">${t(i.at)}</span> ${i.html}</li>`).join("")}</ul>`;
  $("detail-body").className = "detail-grid";
  $("detail-body").innerHTML = left + right + form + `<div>${timeline}</div><div><div class="muted">车辆轨迹 (违规前后10分钟)</div><svg class="track" id="track" viewBox="0 0 400 150"></svg></div>`;
  drawTrack();
}

function drawTrack() {
  const svg = $("track"); if (!svg || !S.track) return;
  const all = Object.values(S.track.tracks).flat();
  if (!all.length) { const tx = el("text", { x: 200, y: 80, fill: "#56708a", "font-size": 12, "text-anchor": "middle" }, svg); tx.textContent = "无车辆轨迹 (固定设施或无数据)"; return; }
  const xs = all.map((p) => p[1]), ys = all.map((p) => p[2]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const s = Math.min(380 / ((x1 - x0) * 0.86 || 1e-4), 130 / ((y1 - y0) || 1e-4));
  const p = (q) => [10 + (q[1] - x0) * 0.86 * s, 140 - (q[2] - y0) * s];
  for (const pts of Object.values(S.track.tracks)) {
    el("path", { d: pts.map((q, i) => (i ? "L" : "M") + p(q).join(",")).join(" "), fill: "none", stroke: "#ff9f1a", "stroke-width": 2 }, svg);
    const [ex, ey] = p(pts[pts.length - 1]); el("circle", { cx: ex, cy: ey, r: 4, fill: "#ff4d4f" }, svg);
  }
  const [cx, cy] = p([0, S.detail.lon, S.detail.lat]); el("circle", { cx, cy, r: 7, fill: "none", stroke: "#ff4d4f", "stroke-width": 2 }, svg);
}

function renderSide(k, comp) {
  if (!comp) { $("suspend-at").textContent = ""; $("scores").innerHTML = `<tr><td class="muted">仅指挥中心可见</td></tr>`; }
  else renderScores(comp);
  $("units").innerHTML = "<tr><th>单位</th><th>处置率</th><th>按期</th><th>结案率</th></tr>" + Object.entries(k.by_unit).map(([u, v]) =>
    `<tr><td>${esc(u)}</td><td>${pct(v.handled_rate)}</td><td>${pct(v.on_time_rate)}</td><td>${pct(v.closed_rate)}</td></tr>`).join("");
}

function renderScores(comp) {
  $("suspend-at").textContent = `${comp.window_days} 天 · ≥${comp.suspend_at} 分暂停`;
  $("scores").innerHTML = "<tr><th>企业</th><th>案件</th><th>记分</th></tr>" + comp.companies.map((c) =>
    `<tr class="${c.suspended ? "suspended" : ""}"><td>${esc(c.company)}${c.suspended ? ' <span class="late">已暂停</span>' : c.over_threshold ? " ⚠" : ""}${
      c.suspended && S.me.role === "shift_lead" ? ` <button data-lift="${esc(c.company)}">解除暂停</button>` : ""}</td><td>${c.cases}</td><td>${c.points}</td></tr>`).join("");
}

async function lift(company) {  // only a shift lead, with a reason (audited); points count again from zero
  const reason = (window.prompt(`解除 ${company} 的暂停, 请填写原因 (记入审计):`) || "").trim();
  if (!reason) { toast("未填写原因, 未解除", true); return; }
  try {
    await api("/api/companies/lift", { method: "POST", body: JSON.stringify({ company, reason }) });
    toast(`已解除暂停 · ${company}`); await refresh();
  } catch (e) { failed("解除失败", e); }
}

// ---------------------------------------------------------------- behaviour
async function select(caseId) {
  S.selected = caseId;
  [S.detail, S.track] = await Promise.all([api(`/api/cases/${caseId}`), api(`/api/cases/${caseId}/track`)]);
  renderDetail(); renderQueue(); drawDynamic();
}

async function openCase(caseId) {
  try { await select(caseId); return true; } catch (e) { failed(`打开案件 #${caseId} 失败`, e); return false; }
}

async function act(caseId, action, extra = {}) {
  try {
    const body = { action, ...extra };
    for (const k of Object.keys(body)) if (body[k] === "" || body[k] === undefined) delete body[k];
    await api(`/api/cases/${caseId}/actions`, { method: "POST", body: JSON.stringify(body) });
    toast(`${S.meta.actions[action]} 成功 · 案件 #${caseId}`);
    await refresh(); await select(caseId);
  } catch (e) { failed(`${S.meta.actions[action]}失败`, e); }
}

function formValues(action) {
  const v = (id) => ($(id) ? $(id).value.trim() : "");
  return { reason: v("f-reason"), unit: action === "dispatch" ? v("f-unit") : "", extension: ["extend", "request_extension"].includes(action) ? v("f-ext") : "",
    note: action === "handle" ? v("f-reason") : "" };
}

document.addEventListener("click", async (ev) => {
  const b = ev.target.closest("button");
  if (b && b.dataset.action) {
    ev.stopPropagation(); const id = Number(b.dataset.case);
    if (needsReason(b.dataset.action)) {
      if (await openCase(id)) { $("f-reason").focus(); toast("请填写原因后在详情中执行"); }
      return;
    }
    return act(id, b.dataset.action);
  }
  if (b && b.dataset.lift) return lift(b.dataset.lift);
  if (b && b.dataset.detailAction) return act(S.detail.case_id, b.dataset.detailAction, formValues(b.dataset.detailAction));
  const row = ev.target.closest("tr[data-case-id]");
  if (row) return openCase(Number(row.dataset.caseId));
  const ring = ev.target.closest("circle[data-case]");
  if (ring) return openCase(Number(ring.dataset.case));
});

async function refresh() {
  if (!S.me || S.busy) return;
  S.busy = true;
  try {
    // a handling unit reads its own cases and KPIs; the city-wide feed, positions and scores are the centre's
    const city = S.me.city_wide, none = (v) => Promise.resolve(v);
    [S.live, S.cases, S.alerts] = await Promise.all([city ? api("/api/live") : none(NO_LIVE()), api("/api/cases?limit=200"),
      city ? api("/api/alerts?limit=40") : none([])]);
    const [k, comp] = await Promise.all([api("/api/kpi"), city ? api("/api/companies") : none(null)]);
    renderTiles(k); renderFeed(); renderQueue(); drawDynamic(); renderSide(k, comp);
  } catch (e) { failed("刷新失败", e); } finally { S.busy = false; }
}

const NO_LIVE = () => ({ vehicles: [], facilities: [], sites: [], now_ms: Date.now() });

function logout() {
  S.me = null; S.token = null; sessionStorage.removeItem("cw-token"); $("who").textContent = "未登录";
}

async function login(token) {
  S.token = token; sessionStorage.setItem("cw-token", token); $("token").value = "";
  try {
    S.me = await api("/api/me");
    const scope = S.me.city_wide ? "" : ` · ${S.me.company || S.me.unit || S.me.node_name}`;  // whose cases it sees
    $("who").textContent = `${S.me.role_label} · ${S.me.name}${scope}`;
    [S.meta, S.map] = await Promise.all([api("/api/meta"), api("/api/map")]);
    if (S.map.name) $("city-name").textContent = `${S.map.name.split(" ")[0]} 数字城管指挥中心`;
    S.bbox = computeBbox(S.map); drawStatic(); S.detail = null; S.selected = null;
    $("detail-body").className = "detail-empty"; $("detail-body").textContent = "在案件队列中选择一个案件";
    await refresh();
  } catch (e) { failed("登录失败", e); }
}

$("login").addEventListener("click", () => login($("token").value.trim()));
$("open-only").addEventListener("change", renderQueue);
$("queue-kind").addEventListener("change", renderQueue);
setInterval(() => { $("clock").textContent = hms(Date.now()); }, 500);
setInterval(refresh, 2000);
setInterval(() => { if (S.selected && !document.activeElement.closest(".actions-form")) select(S.selected).catch(() => {}); }, 5000);
// A link may carry #token=...: take it once, keep it in sessionStorage (this tab only) and drop it from the
// address bar and history at once, so it is not bookmarked, shared, synced or left on screen.
function tokenFromUrl() {
  const m = location.hash.match(/(?:^#|&)token=([^&]*)/);
  if (!m) return null;
  history.replaceState(null, "", location.pathname + location.search);
  try { return decodeURIComponent(m[1]) || null; } catch (e) { return null; }
}

window.addEventListener("hashchange", () => { const tok = tokenFromUrl(); if (tok) login(tok); });
(() => { const tok = tokenFromUrl() || sessionStorage.getItem("cw-token"); if (tok) login(tok); })();
