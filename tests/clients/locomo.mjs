// Independent-client check: the official TypeScript MCP SDK client drives the built server over stdio through the
// LoCoMo dev split, the way an outside evaluator would: every turn stored with `remember` (one call each, observedAt =
// the session's date, a scope per conversation), every scored question asked with `recall` at limit 50 and at limit 10.
// Prints evidence recall and per-call latency as the client sees it.
//
//   cd tests/clients && npm ci && node locomo.mjs ../Engram.Eval/bin/Release/net10.0/engram.dll ../../../shared/bench/locomo
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import fs from "node:fs"; import os from "node:os"; import path from "node:path";
const [dll, data] = process.argv.slice(2);
const months = {January:0,February:1,March:2,April:3,May:4,June:5,July:6,August:7,September:8,October:9,November:10,December:11,Jan:0,Feb:1,Mar:2,Apr:3,Jun:5,Jul:6,Aug:7,Sep:8,Sept:8,Oct:9,Nov:10,Dec:11};
function parseDate(s) { const m = s.trim().match(/^(\d+):(\d+) (am|pm) on (\d+) (\w+), (\d+)$/); let h = +m[1] % 12 + (m[3] === "pm" ? 12 : 0); return new Date(Date.UTC(+m[6], months[m[5]], +m[4], h, +m[2])).toISOString(); }
const convs = JSON.parse(fs.readFileSync(path.join(data, "locomo-dev.json")));
const qs = fs.readFileSync(path.join(data, "locomo-dev-qrels.jsonl"), "utf8").split("\n").filter(Boolean).map(JSON.parse).filter(q => q.scored_for_retrieval);
const home = fs.mkdtempSync(path.join(os.tmpdir(), "engram-ts-"));
const transport = new StdioClientTransport({ command: "dotnet", args: [dll], env: { ...process.env, ENGRAM_HOME: home, ENGRAM_SCOPE: "user" }, stderr: "ignore" });
const client = new Client({ name: "locomo-ts", version: "1.0.0" });
await client.connect(transport);
const pct = (a, p) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))]; };
const lat = { 10: [], 50: [] }; const rec = { 10: [], 50: [] };
for (const c of convs) {
  const scope = "project:locomo/" + c.sample_id; const idOf = {};
  for (let n = 1; c.conversation["session_" + n]; n++) {
    const at = parseDate(c.conversation[`session_${n}_date_time`]);
    for (const t of c.conversation["session_" + n]) {
      let content = `${t.speaker}: ${t.text}`; if (typeof t.blip_caption === "string") content += ` [shared a photo: ${t.blip_caption}]`;
      const r = await client.callTool({ name: "remember", arguments: { content, scope, observedAt: at } });
      idOf[t.dia_id] = r.structuredContent.id;
    }
  }
  for (const q of qs.filter(q => q.sample_id === c.sample_id)) {
    const rel = new Set(q.evidence.filter(e => idOf[e]).map(e => idOf[e]));
    for (const k of [50, 10]) {
      const t0 = performance.now();
      const r = await client.callTool({ name: "recall", arguments: { query: q.question, scope, limit: k } });
      lat[k].push(performance.now() - t0);
      const ids = r.structuredContent.memories.map(m => m.id);
      rec[k].push(rel.size ? ids.slice(0, k).filter(i => rel.has(i)).length / rel.size : 0);
    }
  }
}
const avg = a => a.reduce((x, y) => x + y, 0) / a.length;
console.log(`questions ${rec[50].length}; recall@10 (limit 10) ${avg(rec[10]).toFixed(3)}; recall@50 ${avg(rec[50]).toFixed(3)}`);
for (const k of [10, 50]) console.log(`recall limit ${k}: p50 ${pct(lat[k], 50).toFixed(2)} ms, p95 ${pct(lat[k], 95).toFixed(2)} ms`);
await client.close(); fs.rmSync(home, { recursive: true, force: true });
