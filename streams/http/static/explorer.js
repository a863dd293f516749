// The lead explorer: a live feed of hot leads and hot accounts (server-sent events), a search, a
// lead view drawn from GET /leads/{id} and an account view drawn from GET /accounts/{id}. Plain
// DOM and SVG; every value from the server is set as text, never as HTML.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const $ = (selector, root = document) => root.querySelector(selector);

function el(tag, attrs = {}, text) {
  const node = tag.startsWith("svg:")
    ? document.createElementNS(SVG, tag.slice(4))
    : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function leadLink(leadId) {
  return "#/lead/" + encodeURIComponent(leadId);
}

function accountLink(accountId) {
  return "#/account/" + encodeURIComponent(accountId);
}

function timeOf(iso) {
  const when = new Date(iso);
  return isNaN(when) ? "" : when.toLocaleTimeString();
}

// ---- rows shared by the feed and the search results ------------------------------------------

function row({ leadId, accountId, score, hot, line1, line2, attrs }) {
  const li = el("li", attrs);
  const href = accountId !== undefined ? accountLink(accountId) : leadLink(leadId);
  const a = el("a", { href, class: hot ? "hot" : "" });
  const label = accountId !== undefined ? `account ${accountId}` : leadId;
  a.append(el("span", { class: "id" }, label), el("span", { class: "badge" }, score));
  a.append(el("span", { class: "meta" }, line1));
  if (line2) a.append(el("span", { class: "meta" }, line2));
  li.append(a);
  return li;
}

// ---- live feed ---------------------------------------------------------------------------------

const seenAlerts = new Set();

function signed(points) {
  return `${points > 0 ? "+" : ""}${points}`;
}

// Rows stay ordered by alert time, newest on top, however the alerts arrive: a replay comes
// partition by partition, and a reconnect may bring older alerts after newer ones.
function showAlert(alert) {
  if (seenAlerts.has(alert.alert_id)) return; // a reconnect replays the recent ones
  seenAlerts.add(alert.alert_id);
  const feed = $("#feed");
  const empty = $(".empty", feed);
  if (empty) empty.remove();
  const hot = alert.kind === "hot";
  const at = Date.parse(alert.emitted_at) || 0;
  const why = (alert.reasons || []).map((r) => `${r.rule} ${signed(r.points)}`).join(", ");
  const against = (alert.penalties || []).map((r) => `${r.rule} ${signed(r.points)}`).join(", ");
  const account = typeof alert.account_id === "string";
  const item = account
    ? row({
      accountId: alert.account_id,
      score: alert.score,
      hot,
      line1: `account ${hot ? "hot" : "cooled"} · ${alert.engaged_contacts ?? "–"} engaged contacts · ${alert.route || "no route"} · ${timeOf(alert.emitted_at)}`,
      line2: why,
      attrs: { class: "alert account fresh", "data-account-id": alert.account_id, "data-alert-id": alert.alert_id, "data-kind": alert.kind, "data-at": at },
    })
    : row({
      leadId: alert.lead_id,
      score: alert.score,
      hot,
      line1: `${hot ? "hot" : "cooled"} · ${alert.grade || "–"} · ${alert.route || "no route"} · ${timeOf(alert.emitted_at)}`,
      line2: why,
      attrs: { class: "alert fresh", "data-lead-id": alert.lead_id, "data-alert-id": alert.alert_id, "data-kind": alert.kind, "data-at": at },
    });
  if (against) $("a", item).append(el("span", { class: "meta penalties" }, `held back by ${against}`));
  const later = [...feed.children].find((li) => Number(li.dataset.at) < at);
  feed.insertBefore(item, later || null);
  while (feed.children.length > 100) feed.lastChild.remove();
}

// ---- access -------------------------------------------------------------------------------------

// With LEADSCORE_API_TOKEN set, the API wants `Authorization: Bearer <token>`. The token comes from a
// `#token=` fragment (never sent to the server in a URL, removed from the address bar at once) or
// is asked for on the first 401, and is kept for this tab only.
const TOKEN_KEY = "leadscore-token";
(() => {
  const match = location.hash.match(/token=([^&]+)/);
  if (match) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
})();

async function api(path, init = {}) {
  const call = () => {
    const headers = new Headers(init.headers || {});
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.set("Authorization", `Bearer ${token}`);
    return fetch(path, { ...init, headers });
  };
  let response = await call();
  if (response.status === 401) {
    const token = window.prompt("This leadscore worker wants its API token:");
    if (token) {
      sessionStorage.setItem(TOKEN_KEY, token.trim());
      response = await call();
    }
  }
  return response;
}

// ---- live feed ---------------------------------------------------------------------------------

// Server-sent events read through fetch rather than EventSource, which cannot send the token.
async function follow() {
  const status = $("#live");
  for (;;) {
    try {
      const response = await api("/events/hot", { headers: { Accept: "text/event-stream" } });
      if (!response.ok || !response.body) throw new Error(`feed answered ${response.status}`);
      status.dataset.state = "live";
      status.textContent = "live";
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n/g, "\n");
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          let kind = "message";
          const data = [];
          for (const line of block.split("\n")) {
            if (line.startsWith("event:")) kind = line.slice(6).trim();
            else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
          }
          if (kind === "alert" && data.length) showAlert(JSON.parse(data.join("\n")));
        }
      }
    } catch (err) {
      console.debug("live feed interrupted", err);
    }
    status.dataset.state = "reconnecting";
    status.textContent = "reconnecting…";
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

// ---- search ------------------------------------------------------------------------------------

let searchTimer = 0;

async function runSearch() {
  const prefix = $("#search").value.trim();
  const results = $("#results");
  const response = await api("/leads?limit=20&prefix=" + encodeURIComponent(prefix));
  const { leads, complete } = await response.json();
  results.replaceChildren();
  if (!leads.length) {
    results.append(el("li", { class: "empty" }, complete ? "No lead starts with that." : "None found before the search stopped; type more of the id."));
    return;
  }
  for (const lead of leads) {
    results.append(row({
      leadId: lead.lead_id, score: lead.score, hot: lead.hot,
      line1: `${lead.grade} · ${lead.route || "no route"}`,
      attrs: { class: "result", "data-lead-id": lead.lead_id },
    }));
  }
}

// ---- charts ------------------------------------------------------------------------------------

function explanationChart(contributions) {
  const rows = [...contributions].sort((a, b) => Math.abs(b.points) - Math.abs(a.points));
  const width = 640, labelWidth = 190, barHeight = 24, gap = 8, top = 4;
  const height = top + rows.length * (barHeight + gap) + 24;
  const most = Math.max(1, ...rows.map((c) => Math.abs(c.points)));
  const hasNegative = rows.some((c) => c.points < 0);
  const span = width - labelWidth - 50;
  const zero = labelWidth + (hasNegative ? span / 2 : 0);
  const scale = (hasNegative ? span / 2 : span) / most;
  const svg = el("svg:svg", { viewBox: `0 0 ${width} ${height}`, role: "img", id: "explanation-chart", "aria-label": "score explanation" });
  svg.append(el("svg:line", { class: "axis", x1: zero, x2: zero, y1: 0, y2: height - 20 }));
  rows.forEach((c, i) => {
    const y = top + i * (barHeight + gap);
    const length = Math.abs(c.points) * scale;
    const x = c.points < 0 ? zero - length : zero;
    const group = el("svg:g", {
      class: `bar ${c.kind}${c.points < 0 ? " negative" : ""}`, "data-rule": c.rule, "data-points": c.points,
    });
    group.append(el("svg:title", {}, c.detail || c.rule));
    group.append(el("svg:text", { x: labelWidth - 8, y: y + barHeight * 0.7, "text-anchor": "end" }, c.rule));
    group.append(el("svg:rect", { x, y, width: Math.max(length, 1), height: barHeight, rx: 3 }));
    const valueX = c.points < 0 ? x - 6 : x + length + 6;
    group.append(el("svg:text", { x: valueX, y: y + barHeight * 0.7, "text-anchor": c.points < 0 ? "end" : "start", class: "points" },
      `${c.points > 0 ? "+" : ""}${c.points}`));
    svg.append(group);
  });
  const legend = el("div", { class: "legend" });
  legend.append(el("i", { style: "background: var(--fit)" }), "fit",
    el("i", { style: "background: var(--eng)" }), "engagement",
    el("i", { style: "background: var(--neg)" }), "takes points away");
  return [svg, legend];
}

function historyChart(points, id = "history-chart") {
  const width = 640, height = 220, left = 40, right = 16, top = 12, bottom = 28;
  const svg = el("svg:svg", { viewBox: `0 0 ${width} ${height}`, role: "img", id, "aria-label": "score history" });
  if (!points.length) {
    svg.append(el("svg:text", { x: left, y: height / 2 }, "No score changes recorded yet."));
    return svg;
  }
  const t0 = points[0].t, t1 = points[points.length - 1].t;
  const most = Math.max(100, ...points.map((p) => p.score));
  const xs = spread(points.map((p) => p.t), width - left - right).map((v) => left + v);
  const y = (s) => top + (1 - s / most) * (height - top - bottom);
  for (const tick of [0, 25, 50, 75, 100]) {
    svg.append(el("svg:line", { class: "axis", x1: left, x2: width - right, y1: y(tick), y2: y(tick) }));
    svg.append(el("svg:text", { class: "tick", x: left - 6, y: y(tick) + 4, "text-anchor": "end" }, tick));
  }
  svg.append(el("svg:text", { class: "tick", x: left, y: height - 8 }, new Date(t0 * 1000).toLocaleString()));
  if (t1 !== t0) {
    svg.append(el("svg:text", { class: "tick", x: width - right, y: height - 8, "text-anchor": "end" }, new Date(t1 * 1000).toLocaleString()));
  }
  // a step line: a score holds until the next change
  const steps = points.flatMap((p, i) => (i ? [`${xs[i]},${y(points[i - 1].score)}`] : []).concat(`${xs[i]},${y(p.score)}`));
  svg.append(el("svg:polyline", { class: "line", points: steps.join(" ") }));
  points.forEach((p, i) => {
    const dot = el("svg:circle", { class: "dot", cx: xs[i], cy: y(p.score), r: 4, "data-score": p.score, "data-at": p.t });
    if (p.contacts !== undefined) dot.dataset.engagedContacts = p.contacts;
    dot.append(el("svg:title", {}, `${p.score} (${p.grade}) · ${p.cause} · ${new Date(p.t * 1000).toLocaleString()}`));
    svg.append(dot);
  });
  return svg;
}

// x positions (0..span) for times in order: proportional to time, but never closer than MIN_GAP,
// so changes made in one second (one batch, one burst of events) stay apart as steps instead of
// drawing a vertical line.
const MIN_GAP = 14;
function spread(times, span) {
  if (times.length === 1) return [span / 2];
  const t0 = times[0], t1 = times[times.length - 1];
  if (t1 === t0) return times.map((_, i) => (i * span) / (times.length - 1)); // all in one instant
  const xs = [];
  for (const t of times) {
    const v = t1 === t0 ? 0 : ((t - t0) / (t1 - t0)) * span;
    xs.push(xs.length ? Math.max(v, xs[xs.length - 1] + MIN_GAP) : v);
  }
  const last = xs[xs.length - 1];
  return last > span ? xs.map((v) => (v * span) / last) : xs; // squeezed back into the chart
}

// ---- lead view ---------------------------------------------------------------------------------

function historyFor(model, history) {
  // history rows are {at, cause, changes: [[model, score, grade, hot], ...]}, newest first
  const points = [];
  for (const entry of [...history].reverse()) { // oldest first, so equal times keep their order
    for (const [name, score, grade] of entry.changes || []) {
      if (name === model) points.push({ t: entry.at, score, grade, cause: entry.cause });
    }
  }
  return points.sort((a, b) => a.t - b.t);
}

async function showLead(leadId) {
  $("#welcome").hidden = true;
  const panel = $("#lead");
  panel.hidden = false;
  $("#lead-title").textContent = leadId;
  const models = $("#models");
  const error = $("#lead-error");
  models.replaceChildren();
  error.hidden = true;
  const response = await api("/leads/" + encodeURIComponent(leadId));
  if (!response.ok) {
    error.textContent = response.status === 404 ? "No such lead." : `The worker answered ${response.status}.`;
    error.hidden = false;
    return;
  }
  const lead = await response.json();
  for (const score of lead.scores) {
    const card = $("#model-card").content.firstElementChild.cloneNode(true);
    card.dataset.model = score.model;
    $(".score", card).classList.toggle("hot", score.hot);
    $(".score .value", card).textContent = score.score;
    $(".grade", card).textContent = score.grade;
    $(".route", card).textContent = score.route || "—";
    $(".fit", card).textContent = score.fit;
    $(".engagement", card).textContent = score.engagement;
    $(".model-name", card).textContent = `${score.model} v${score.model_version}`;
    $(".explanation", card).append(...explanationChart(score.explanation));
    $(".history", card).append(historyChart(historyFor(score.model, lead.history)));
    models.append(card);
  }
  panel.dataset.loaded = leadId;
}

// ---- account view ------------------------------------------------------------------------------

function accountHistoryFor(model, history) {
  // rows are {at, cause, changes: [{model, score, engaged_contacts, hot, members}]}, newest first
  const points = [];
  for (const entry of [...history].reverse()) {
    for (const change of entry.changes || []) {
      if (change.model !== model) continue;
      points.push({
        t: entry.at, score: change.score, contacts: change.engaged_contacts,
        grade: `${change.engaged_contacts} engaged of ${change.members}`, cause: entry.cause,
      });
    }
  }
  return points.sort((a, b) => a.t - b.t);
}

async function showAccount(accountId) {
  $("#welcome").hidden = true;
  $("#lead").hidden = true;
  const panel = $("#account");
  panel.hidden = false;
  $("#account-title").textContent = `account ${accountId}`;
  const models = $("#account-models");
  const error = $("#account-error");
  models.replaceChildren();
  error.hidden = true;
  const response = await api("/accounts/" + encodeURIComponent(accountId));
  if (!response.ok) {
    error.textContent = response.status === 404 ? "No such account." : `The worker answered ${response.status}.`;
    error.hidden = false;
    return;
  }
  const account = await response.json();
  for (const score of account.scores) {
    const card = $("#account-card").content.firstElementChild.cloneNode(true);
    card.dataset.model = score.model;
    $(".score", card).classList.toggle("hot", score.hot);
    $(".score .value", card).textContent = score.score;
    $(".contacts", card).textContent = score.engaged_contacts;
    $(".route", card).textContent = score.route || "—";
    $(".fit", card).textContent = score.fit;
    $(".engagement", card).textContent = score.engagement;
    $(".model-name", card).textContent = score.model;
    const members = $(".members", card);
    for (const member of score.members) {
      members.append(row({
        leadId: member.lead_id, score: member.score, hot: false, line1: "member",
        attrs: { class: "member", "data-lead-id": member.lead_id, "data-score": member.score },
      }));
    }
    $(".explanation", card).append(...explanationChart(score.explanation));
    $(".history", card).append(historyChart(accountHistoryFor(score.model, account.history), "account-history-chart"));
    models.append(card);
  }
  panel.dataset.loaded = accountId;
}

function route() {
  const lead = location.hash.match(/^#\/lead\/(.+)$/);
  const account = location.hash.match(/^#\/account\/(.+)$/);
  if (lead) {
    $("#account").hidden = true;
    showLead(decodeURIComponent(lead[1]));
  } else if (account) {
    showAccount(decodeURIComponent(account[1]));
  } else {
    $("#lead").hidden = true;
    $("#account").hidden = true;
    $("#welcome").hidden = false;
  }
}

$("#search-form").addEventListener("submit", (event) => { event.preventDefault(); runSearch(); });
$("#search").addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(runSearch, 200); });
window.addEventListener("hashchange", route);
follow();
route();
