// Turns one bench/run.sh results directory into the markdown tables of docs/benchmarks.md (medians, min-max,
// ratios vs Bun) and replaces only the text between the generated-block markers; not a benchmark itself.
// Usage: node bench/report.js RESULTS_DIR OUT.md
"use strict";

const fs = require("fs");
const path = require("path");

const BEGIN = "<!-- BEGIN bench/run.sh output: generated, edits inside are overwritten -->";
const END = "<!-- END bench/run.sh output -->";

const [resultsDir, outPath] = process.argv.slice(2);
if (!resultsDir || !outPath) {
  console.error("usage: node bench/report.js RESULTS_DIR OUT.md");
  process.exit(2);
}

const meta = Object.fromEntries(
  fs.readFileSync(path.join(resultsDir, "meta.tsv"), "utf8").trim().split("\n").map((l) => {
    const i = l.indexOf("\t");
    return [l.slice(0, i), l.slice(i + 1)];
  }),
);

const rows = fs.readFileSync(path.join(resultsDir, "runs.tsv"), "utf8").trim().split("\n").slice(1).map((l) => {
  const [server, scenario, run, status, json, serverCmd, benchCmd] = l.split("\t");
  let summary = null;
  if (status === "ok") {
    try {
      summary = JSON.parse(fs.readFileSync(json, "utf8"));
    } catch {
      summary = null;
    }
  }
  return { server, scenario, run: Number(run), status, summary, serverCmd, benchCmd };
});

const SERVER_NAMES = { wshub: "wshub", bun: "Bun", node: "Node ws", nchan: "nginx+nchan" };
const PUBLISH_VIA = { wshub: "WebSocket", bun: "WebSocket", node: "WebSocket", nchan: "HTTP POST ¹" };
const serversInOrder = ["wshub", "bun", "node", "nchan"].filter((s) => rows.some((r) => r.server === s));

function get(obj, dotted) {
  return dotted.split(".").reduce((o, k) => (o == null ? undefined : o[k]), obj);
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

// Per (server, scenario): the ok runs, the failed ones, and whether the pair is not applicable.
function cell(server, scenario) {
  const rs = rows.filter((r) => r.server === server && r.scenario === scenario);
  return {
    na: rs.some((r) => r.status === "n/a"),
    ok: rs.filter((r) => r.summary),
    failed: rs.filter((r) => r.status !== "ok" && r.status !== "n/a"),
    any: rs.length > 0,
  };
}

function values(c, key) {
  return c.ok.map((r) => get(r.summary, key)).filter((v) => typeof v === "number" && Number.isFinite(v));
}

function fmtNum(v) {
  if (v == null) return "—";
  if (Math.abs(v) >= 100) return Math.round(v).toLocaleString("en-US");
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

function fmtBytes(v) {
  if (v == null) return "—";
  if (v >= 1 << 20) return `${(v / (1 << 20)).toFixed(1)} MiB`;
  if (v >= 1024) return `${(v / 1024).toFixed(1)} KiB`;
  return `${Math.round(v)} B`;
}

// "median (min–max)" when there is more than one run, else the single value.
function stat(c, key, fmt = fmtNum, spread = false) {
  const vs = values(c, key);
  if (!vs.length) return "—";
  const m = fmt(median(vs));
  if (!spread || vs.length < 2) return m;
  return `${m} (${fmt(Math.min(...vs))}–${fmt(Math.max(...vs))})`;
}

function ratio(c, base, key) {
  const a = values(c, key);
  const b = values(base, key);
  if (!a.length || !b.length || median(b) === 0) return "—";
  return `${(median(a) / median(b)).toFixed(2)}×`;
}

function errors(c) {
  const totals = {};
  for (const r of c.ok) {
    for (const [k, v] of Object.entries(r.summary.errors || {})) {
      if (typeof v === "number" && v) totals[k] = (totals[k] || 0) + v;
    }
  }
  const keys = Object.keys(totals);
  if (!c.ok.length) return "—";
  if (!keys.length) return "0";
  return keys.map((k) => `${k}: ${totals[k]}`).join(", ");
}

// Set when some run's load generator used over 90% of its core: that number may be the generator's limit.
let saturated = false;

function table(scenario, columns) {
  const out = [];
  out.push(`| server | ${columns.map((c) => c.title).join(" | ")} |`);
  out.push(`|---|${columns.map((c) => (c.text ? "---" : "---:")).join("|")}|`);
  const bun = cell("bun", scenario);
  for (const s of serversInOrder) {
    const c = cell(s, scenario);
    if (!c.any) continue;
    let line;
    if (c.na) line = columns.map(() => "n/a");
    else if (!c.ok.length) line = columns.map((col, i) => (i === 0 ? `failed: ${c.failed.map((r) => r.status).join("; ")}` : "—"));
    else line = columns.map((col) => col.value(c, bun, s));
    let note = c.failed.length && c.ok.length ? ` (${c.failed.length} of ${c.ok.length + c.failed.length} runs failed)` : "";
    if (c.ok.some((r) => get(r.summary, "self.cpu_util") > 0.9)) {
      note += " ²";
      saturated = true;
    }
    out.push(`| ${SERVER_NAMES[s]}${note} | ${line.join(" | ")} |`);
  }
  return out.join("\n");
}

const via = { title: "publishes via", text: true, value: (c, b, s) => PUBLISH_VIA[s] };
// Deliveries due (each publish times the subscribers of its channel) that had not arrived when the drain ended.
const lost = {
  title: "undelivered",
  value: (c) => {
    const fr = c.ok
      .map((r) => r.summary)
      .filter((x) => x.delivered_expected > 0)
      .map((x) => Math.max(0, x.delivered_expected - x.delivered) / x.delivered_expected);
    if (!fr.length) return "—";
    const m = median(fr);
    return m === 0 ? "0" : `${(m * 100).toPrecision(2)}%`;
  },
};
const errs = { title: "errors", text: true, value: (c) => errors(c) };
const lat = (q, t) => ({ title: `${t} µs`, value: (c) => stat(c, `latency_us.${q}`) });

const SCENARIOS = {
  S1: {
    title: "S1 fan-out: 1 channel, 10,000 subscribers, 1 publisher as fast as it can with at most 16 publishes in flight",
    columns: [
      via,
      { title: "delivered msgs/s", value: (c) => stat(c, "delivered_per_s", fmtNum, true) },
      { title: "vs Bun", value: (c, b) => ratio(c, b, "delivered_per_s") },
      { title: "server CPU s per 1M deliveries", value: (c) => stat(c, "server.cpu_s_per_million_deliveries") },
      { title: "vs Bun", value: (c, b) => ratio(c, b, "server.cpu_s_per_million_deliveries") },
      lat("p50", "p50"),
      lat("p99", "p99"),
      lost,
      errs,
    ],
    note: "Higher delivered msgs/s is better; lower CPU per million deliveries is better. Undelivered: deliveries due that had not arrived when the drain period ended (median over runs); errors: connection failures and server closes, summed over runs.",
  },
  S2: {
    title: "S2 latency at fixed load: 10,000 subscribers over 1,000 channels, 2,000 publishes/s",
    columns: [
      via,
      lat("p50", "p50"),
      lat("p99", "p99"),
      { title: "p99 vs Bun", value: (c, b) => ratio(c, b, "latency_us.p99") },
      lat("p999", "p99.9"),
      lat("max", "max"),
      { title: "publishes/s achieved", value: (c) => stat(c, "publish_per_s") },
      { title: "delivered msgs/s", value: (c) => stat(c, "delivered_per_s") },
      lost,
      errs,
    ],
    note: "Lower is better. Latency is publish-to-delivery, measured by the load generator; the achieved rate shows whether the server kept up with the offered 2,000/s.",
  },
  S3: {
    title: "S3 idle memory: 19,000 idle subscribed connections over 1,000 channels",
    columns: [
      { title: "RSS per connection", value: (c) => stat(c, "server.rss_per_conn", fmtBytes, true) },
      { title: "vs Bun", value: (c, b) => ratio(c, b, "server.rss_per_conn") },
      { title: "RSS before connecting", value: (c) => stat(c, "server.rss_before", fmtBytes) },
      { title: "RSS with the connections", value: (c) => stat(c, "server.rss_idle", fmtBytes) },
      { title: "connections ready", value: (c) => stat(c, "subscribers_ready") },
      errs,
    ],
    note: "Lower is better. RSS of the serving process (nginx's worker for nchan), read from /proc before the first connection and after the last subscription settled; per connection is the difference over the connections ready.",
  },
  S4: {
    title: "S4 publish throughput: 10 publishers, 100 channels with one subscriber each",
    columns: [
      via,
      { title: "publishes/s", value: (c) => stat(c, "publish_per_s", fmtNum, true) },
      { title: "vs Bun", value: (c, b) => ratio(c, b, "publish_per_s") },
      { title: "server CPU s per 1M deliveries", value: (c) => stat(c, "server.cpu_s_per_million_deliveries") },
      lat("p50", "p50"),
      lat("p99", "p99"),
      lost,
      errs,
    ],
    note: "Higher publishes/s is better.",
  },
  S5: {
    title: "S5 durable publish: S4 with wshub --data-dir (the others have no equivalent)",
    columns: [
      via,
      { title: "publishes/s", value: (c) => stat(c, "publish_per_s", fmtNum, true) },
      {
        title: "vs wshub in memory (S4)",
        value: (c) => ratio(c, cell("wshub", "S4"), "publish_per_s"),
      },
      lat("p50", "p50"),
      lat("p99", "p99"),
      lost,
      errs,
    ],
    note: "n/a: Bun, Node ws and nchan's memory store have no durable-before-acknowledge mode to compare with.",
  },
};

const scenariosRun = Object.keys(SCENARIOS).filter((s) => rows.some((r) => r.scenario === s));
const runsPer = Math.max(0, ...rows.map((r) => r.run));

const md = [];
md.push(BEGIN);
md.push("");
md.push(`Measured ${meta.date} by \`bench/run.sh\` on ${meta.nproc} CPUs (${meta.cpu}), ${meta.memory}, ${meta.kernel}; open files per process ${meta.nofile}.`);
md.push(`Each server runs alone, pinned to CPU 0 (\`taskset -c 0\`); the load generator \`wshub bench\` is pinned to CPU 1. Every number is the median of ${runsPer} run(s) per server and scenario${runsPer > 1 ? ", with the min–max range in brackets where shown" : ""}; each run starts a fresh server, and the runs are interleaved (run 1 of every server, then run 2 of every server, and so on), so a disturbance of the shared machine does not fall on one server only. Settings: ${meta.settings}.`);
md.push("");
md.push("| server | version |");
md.push("|---|---|");
for (const s of serversInOrder) md.push(`| ${SERVER_NAMES[s]} | ${meta[`version.${s}`] || "?"} |`);
md.push("");
for (const s of scenariosRun) {
  const sc = SCENARIOS[s];
  md.push(`### ${sc.title}`);
  md.push("");
  md.push(table(s, sc.columns));
  md.push("");
  md.push(sc.note);
  md.push("");
}
if (serversInOrder.includes("nchan")) {
  md.push("¹ nchan has no WebSocket publishing that answers with an offset, so its publishers POST to `/pub/{channel}` over keep-alive HTTP (`--protocol nchan --publish-via http`) and its subscribers connect to `/sub/{channel}`, one channel per connection; nchan delivers the raw body, not wshub's JSON envelope.");
  md.push("");
}
if (saturated) {
  md.push("² In at least one run of this row the load generator used more than 90% of its core (`self.cpu_util` in the bench's JSON): the number may be the generator's limit rather than the server's.");
  md.push("");
}
md.push("Commands, identical in every run (`$PORT` is a free port, `$PID` the serving process, `$RUNDIR` a scratch directory):");
md.push("");
md.push("```sh");
// Each distinct command once, labelled with the (scenario, server) pairs that ran it.
function distinct(field) {
  const seen = new Map();
  for (const s of scenariosRun) {
    for (const srv of serversInOrder) {
      const r = rows.find((x) => x.server === srv && x.scenario === s && x.status !== "n/a" && x[field]);
      if (!r) continue;
      if (!seen.has(r[field])) seen.set(r[field], []);
      seen.get(r[field]).push(field === "serverCmd" ? [SERVER_NAMES[srv], s] : [s, SERVER_NAMES[srv]]);
    }
  }
  return seen;
}
function label(uses) {
  // [S1, wshub], [S1, Bun] -> "S1: wshub, Bun"; [wshub, S1], [wshub, S2] -> "wshub: S1, S2"
  const groups = new Map();
  for (const [head, tail] of uses) {
    if (!groups.has(head)) groups.set(head, []);
    groups.get(head).push(tail);
  }
  return [...groups].map(([h, t]) => `${h}: ${t.join(", ")}`).join("; ");
}
md.push("# servers (one at a time, stopped with SIGTERM after each run)");
for (const [cmd, uses] of distinct("serverCmd")) md.push(`${cmd} &    # ${label(uses)}`);
md.push("");
md.push("# load generator");
for (const [cmd, uses] of distinct("benchCmd")) {
  md.push(`# ${label(uses)}`);
  md.push(cmd);
}
md.push("```");
md.push("");
md.push(END);
const block = md.join("\n");

let doc;
if (fs.existsSync(outPath)) {
  doc = fs.readFileSync(outPath, "utf8");
  const b = doc.indexOf(BEGIN);
  const e = doc.indexOf(END);
  if (b >= 0 && e > b) doc = doc.slice(0, b) + block + doc.slice(e + END.length);
  else doc = doc.replace(/\n*$/, "\n\n") + block + "\n";
} else {
  doc = `# Benchmarks\n\nwshub side by side with Bun's built-in pub/sub, Node \`ws\` and nginx+nchan on one machine. The block below is written by \`bash bench/run.sh\` (see bench/README.md); text outside it is kept.\n\n## Results\n\n${block}\n`;
}
fs.writeFileSync(outPath, doc);
