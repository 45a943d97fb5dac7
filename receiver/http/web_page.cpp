#include "web_page.hpp"

namespace lastgasp::http {

namespace {

constexpr std::string_view kPage = R"page(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lastgasp: fleet</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 1em; color: #222; }
h1 { font-size: 1.2em; margin: 0 0 .5em; }
#status { color: #666; margin-bottom: .5em; }
table { border-collapse: collapse; }
th, td { padding: .2em .7em; text-align: left; border-bottom: 1px solid #ddd; }
th { cursor: pointer; user-select: none; background: #f4f4f4; }
th.sorted::after { content: " \25BE"; }
th.sorted.up::after { content: " \25B4"; }
tbody tr { cursor: pointer; }
tbody tr:hover { background: #eef; }
tr.selected { background: #dde; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.state-panicked { color: #fff; background: #c00; font-weight: bold; }
.state-silent { color: #a60; }
.state-live { color: #080; }
#console { margin-top: 1em; }
#lines { font: 12px ui-monospace, monospace; background: #111; color: #ddd; padding: .5em; height: 28em;
         overflow-y: auto; white-space: pre-wrap; word-break: break-all; }
.line .time { color: #888; margin-right: .6em; }
.line .level { color: #9cf; margin-right: .6em; }
.line.level-err, .line.level-crit, .line.level-alert, .line.level-emerg { color: #f88; }
.line.level-warn { color: #fd8; }
.line.panic, .line.incident { background: #a00; color: #fff; font-weight: bold; }
.line.gap { color: #f6f; border-top: 1px dashed #f6f; }
.line.reboot { color: #6ff; border-top: 2px solid #6ff; margin-top: .3em; }
.line.pstore { color: #fd6; }
.line.notice { color: #fd6; font-style: italic; }
</style>
</head>
<body>
<h1>lastgasp: fleet</h1>
<div id="status">loading /api/hosts</div>
<table id="hosts">
<thead><tr>
<th data-key="host">host</th><th data-key="state">state</th><th data-key="last_seen">last seen</th>
<th data-key="boots" class="num">boots</th><th data-key="gaps" class="num">gaps</th>
<th data-key="panics" class="num">panics</th><th data-key="records" class="num">records</th>
</tr></thead>
<tbody></tbody>
</table>
<div id="console" hidden>
<h1>console of <span id="console-host"></span> <small id="console-status"></small></h1>
<div id="lines"></div>
</div>
<script>
"use strict";
// Everything from the receiver is a sender's text: it goes in with textContent, never as markup.
const columns = ["host", "state", "last_seen", "boots", "gaps", "panics", "records"];
const numeric = new Set(["boots", "gaps", "panics", "records"]);
let hosts = [], sortKey = "host", sortUp = true, selected = null, source = null;
const maxLines = 2000;

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
}

function compare(a, b) {
  const x = a[sortKey], y = b[sortKey];
  const order = numeric.has(sortKey) ? x - y : String(x).localeCompare(String(y));
  return sortUp ? order : -order;
}

function drawTable() {
  const body = document.querySelector("#hosts tbody");
  body.replaceChildren();
  for (const h of [...hosts].sort(compare)) {
    const row = document.createElement("tr");
    row.dataset.host = h.host;
    if (h.host === selected) row.className = "selected";
    cell(row, h.host);
    cell(row, h.state, "state-" + h.state);
    cell(row, h.last_seen);
    for (const key of ["boots", "gaps", "panics", "records"]) cell(row, String(h[key]), "num");
    row.addEventListener("click", () => watch(h.host));
    body.appendChild(row);
  }
  for (const th of document.querySelectorAll("#hosts th")) {
    th.classList.toggle("sorted", th.dataset.key === sortKey);
    th.classList.toggle("up", th.dataset.key === sortKey && sortUp);
  }
}

async function refresh() {
  try {
    const reply = await fetch("api/hosts", {cache: "no-store"});
    if (!reply.ok) throw new Error(reply.status + " " + reply.statusText);
    hosts = await reply.json();
    document.getElementById("status").textContent =
      hosts.length + " hosts, " + hosts.filter(h => h.state === "panicked").length + " panicked; updated " +
      new Date().toLocaleTimeString();
    drawTable();
  } catch (e) {
    document.getElementById("status").textContent = "cannot read /api/hosts: " + e.message;
  }
}

// A host name as an fnmatch pattern that matches only itself.
function globOf(name) { return name.replace(/[\\*?[]/g, c => "\\" + c); }

function addLine(record) {
  const lines = document.getElementById("lines");
  const line = document.createElement("div");
  line.className = "line" + (record.event ? " " + record.event : record.level ? " level-" + record.level : " notice");
  const time = document.createElement("span");
  time.className = "time";
  time.textContent = record.recv_time;
  const level = document.createElement("span");
  level.className = "level";
  level.textContent = record.level || "lastgasp";
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = record.text;
  line.append(time, level, text);
  const atBottom = lines.scrollTop + lines.clientHeight >= lines.scrollHeight - 4;
  lines.appendChild(line);
  while (lines.childElementCount > maxLines) lines.firstElementChild.remove();
  if (atBottom) lines.scrollTop = lines.scrollHeight;
}

function say(text) { document.getElementById("console-status").textContent = text; }

function watch(host) {
  selected = host;
  drawTable();
  if (source) source.close();
  document.getElementById("console").hidden = false;
  document.getElementById("console-host").textContent = host;
  document.getElementById("lines").replaceChildren();
  source = new EventSource("api/stream?n=200&host=" + encodeURIComponent(globOf(host)));
  source.onopen = () => say("live");
  source.onerror = () => say("reconnecting");
  source.onmessage = event => addLine(JSON.parse(event.data));
  source.addEventListener("lost", event => {
    const missed = JSON.parse(event.data).missed;
    addLine({recv_time: "", level: null, event: "gap",
             text: "(" + (missed === null ? "some" : missed) + " records went by while this page was away: see tail)"});
  });
  source.addEventListener("dropped", () => say("dropped by the receiver (too slow); reconnecting"));
}

for (const th of document.querySelectorAll("#hosts th"))
  th.addEventListener("click", () => {
    sortUp = th.dataset.key === sortKey ? !sortUp : !numeric.has(th.dataset.key);
    sortKey = th.dataset.key;
    drawTable();
  });
const wanted = new URLSearchParams(location.search).get("host");
if (wanted) watch(wanted);
refresh();
setInterval(refresh, 5000);
</script>
</body>
</html>
)page";

}  // namespace

std::string_view web_page() { return kPage; }

}  // namespace lastgasp::http
