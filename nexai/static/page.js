// The line's page (nexai.page): reads and writes through the service's JSON routes. No network beyond the service.
(() => {
'use strict';
const cfg = JSON.parse(document.getElementById('cfg').textContent);
const $ = id => document.getElementById(id);
const api = p => `/v2/models/${encodeURIComponent(cfg.name)}/${p}`;
const pct = x => (x == null || Number.isNaN(x)) ? '—' : (100*x).toFixed(Math.abs(x) < 0.1 ? 2 : 1) + ' %';
const num = (x, d=1) => (x == null || Number.isNaN(x)) ? '—' : x.toFixed(d);
const esc = s => String(s).replace(/[&<>"']/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));
let minutes = cfg.minutes;
const page = window.nexaiPage = {cfg, data: null, figures: null, labelled: 0, failed: 0};

// ---- the token: asked once, kept for the session
const auth = {token: sessionStorage.getItem('nexai-token') || '', who: sessionStorage.getItem('nexai-who') || ''};
let authWait = null;
function askAuth(msg) {
  $('auth').hidden = false;
  $('auth-msg').textContent = msg || "Writes need the service's token.";
  $('auth-who').value = auth.who; $('auth-token').focus();
  return new Promise(res => { authWait = res; });
}
function saveAuth() {
  auth.token = $('auth-token').value.trim(); auth.who = $('auth-who').value.trim();
  sessionStorage.setItem('nexai-token', auth.token); sessionStorage.setItem('nexai-who', auth.who);
  $('auth').hidden = true; $('auth-token').value = '';
  if (authWait) { const r = authWait; authWait = null; r(); }
}
$('auth-save').onclick = saveAuth;
$('auth-token').addEventListener('keydown', e => { if (e.key === 'Enter') saveAuth(); });
async function write(method, path, body) {
  if (!auth.token) await askAuth();
  const h = {'Content-Type': 'application/json', 'Authorization': 'Bearer ' + auth.token};
  if (auth.who) h['X-Nexai-User'] = auth.who;
  let r, j;
  try { r = await fetch(api(path), {method, headers: h, body: JSON.stringify(body)}); j = await r.json().catch(() => ({})); }
  catch (e) { return {ok: false, status: 0, body: {error: 'the service did not answer: ' + e}}; }
  if (r.status === 401 || r.status === 403) {
    auth.token = ''; sessionStorage.removeItem('nexai-token');
    $('auth').hidden = false; $('auth-msg').textContent = 'Refused: ' + (j.error || r.status);
  }
  return {ok: r.ok, status: r.status, body: j};
}
const getJSON = async p => { const r = await fetch(p); const j = await r.json(); if (!r.ok) throw new Error(j.error || r.status); return j; };

// ---- the line now
const charts = {};
function chart(key, title, series, data, opts={}) {
  const el = $('charts'); const w = Math.max(220, Math.floor((el.clientWidth || 1000)/3) - 16);
  if (charts[key]) { charts[key].setData(data); return; }
  const box = document.createElement('div'); box.className = 'chart'; box.id = 'chart-' + key; el.appendChild(box);
  charts[key] = new uPlot({title, width: w, height: 130, legend: {show: true, live: false}, cursor: {show: false},
    scales: {x: {time: true}, y: opts.y || {}}, axes: [{size: 28}, {size: 44}],
    series: [{}].concat(series)}, data, box);
}
function kpi(label, value, cls='') { return `<div class="kpi ${cls}"><span>${label}</span><b>${value}</b></div>`; }
async function refreshLine() {
  const d = await getJSON(api(`line?minutes=${minutes}`));
  const recent = d.parts_per_min.slice(-5), ppm = recent.reduce((a, b) => a + b, 0)/Math.max(recent.length, 1);
  const seen = d.drift.filter(x => x != null), watch = (d.drift_now && d.drift_now.status) || 'ok';
  const st = seen.length ? ['ok', 'watch', 'drift'][seen[seen.length - 1]] : watch;  // the records' last window; the service's own watch beside it
  $('kpis').innerHTML = kpi('parts / min', num(ppm)) + kpi('flagged', `${pct(d.flagged_share)} <small>set for ${pct(d.rate)}</small>`)
    + kpi('borderline', pct(d.borderline_share)) + kpi('latency p50 / p99', `${num(d.p50_ms)} / ${num(d.p99_ms)} ms`)
    + kpi('drift', `${st} <small>service's watch: ${watch}</small>`, 'drift-' + st) + kpi('parts in window', d.n.toLocaleString());
  const t = d.t, target = t.map(() => d.rate);
  chart('ppm', 'parts / min', [{label: 'parts/min', stroke: '#2563eb', width: 1.5}], [t, d.parts_per_min]);
  chart('flagged', 'flagged share', [{label: 'flagged', stroke: '#dc2626', width: 1.5}, {label: 'set for', stroke: '#6b7280', dash: [4, 4]}], [t, d.flagged, target], {y: {range: (u, mn, mx) => [0, Math.max(mx || 0, 0.05)]}});
  chart('border', 'borderline share', [{label: 'borderline', stroke: '#d97706', width: 1.5}], [t, d.borderline], {y: {range: (u, mn, mx) => [0, Math.max(mx || 0, 0.05)]}});
  chart('lat', 'latency (ms)', [{label: 'p50', stroke: '#059669', width: 1.5}, {label: 'p99', stroke: '#7c3aed', width: 1.5}], [t, d.p50, d.p99]);
  chart('drift', 'drift: 0 ok · 1 watch · 2 drift', [{label: 'status', stroke: '#111827', width: 1.5, paths: uPlot.paths.stepped({align: 1})}], [t, d.drift], {y: {range: [0, 2.2]}});
  if (d.records > 0 && $('empty')) $('empty').remove();
  return d;
}

// ---- the review queue
let queue = [], cur = null, loadingQ = null;
const done = new Set();
const preloaded = new Map();
function preload() {
  for (const p of queue.slice(0, 4)) for (const src of [p.image, p.map]) if (src && !preloaded.has(src)) {
    const im = new Image(); im.src = src; preloaded.set(src, im);
    if (preloaded.size > 64) preloaded.delete(preloaded.keys().next().value);
  }
}
async function loadQueue() {
  if (loadingQ) return loadingQ;
  loadingQ = (async () => {
    const j = await getJSON(api(`queue?minutes=${minutes}&limit=200`));
    const have = new Set(queue.map(p => p.part)); if (cur) have.add(cur.part);
    queue = queue.concat(j.parts.filter(p => !done.has(p.part) && !have.has(p.part)));
    if (!cur) next(); else preload();
    $('queue-left').textContent = `${queue.length + (cur ? 1 : 0)} to review`;
  })().finally(() => { loadingQ = null; });
  return loadingQ;
}
function img(src, alt) {
  if (!src) return '<div class="noimg">image not kept</div>';
  return `<img src="${esc(src)}" alt="${esc(alt)}" onerror="this.replaceWith(Object.assign(document.createElement('div'), {className: 'noimg', textContent: 'no ${esc(alt)}'}))">`;
}
function show(p) {
  const card = $('card');
  if (!p) {
    card.dataset.part = ''; $('img-box').innerHTML = ''; $('map-box').innerHTML = '';
    $('part-info').innerHTML = '<p class="note">Nothing to review in this window.</p>'; return;
  }
  card.dataset.part = p.part;
  $('img-box').innerHTML = img(p.image, 'image'); $('map-box').innerHTML = img(p.map, 'map');
  $('part-info').innerHTML = `<b>part ${p.part}</b> · score <b>${p.score.toFixed(4)}</b> · <span class="dec-${p.decision}">${p.decision}</span>`
    + ` · rank ${p.rank.toLocaleString()} of ${p.of.toLocaleString()} (top ${(100*p.rank/p.of).toFixed(1)} %) · ${esc(p.why)} · ${new Date(p.ts*1000).toLocaleTimeString()}`;
}
function next() {
  cur = queue.shift() || null; show(cur); preload();
  $('queue-left').textContent = `${queue.length + (cur ? 1 : 0)} to review`;
  if (queue.length < 20) loadQueue();
}
async function label(lab) {
  if (!cur) return;
  if (!auth.token) { await askAuth(); }
  const p = cur; done.add(p.part); next();
  const r = await write('POST', 'labels', {part: p.part, label: lab});
  if (r.ok) {
    page.labelled += 1; $('label-msg').textContent = `${page.labelled} labelled · last: part ${p.part} ${lab}`;
    document.body.dataset.labelled = page.labelled; scheduleTradeoff();
  } else {
    page.failed += 1; done.delete(p.part);
    if (cur) queue.unshift(cur);
    cur = p; show(p);
    $('label-msg').textContent = `part ${p.part} not labelled: ${r.body.error || r.status}`;
    document.body.dataset.failed = page.failed;
  }
}
for (const b of document.querySelectorAll('#card .buttons button')) b.onclick = () => label(b.dataset.label);
const KEYS = {g: 'good', d: 'defect', s: 'skip'};
document.addEventListener('keydown', e => {
  if (e.ctrlKey || e.metaKey || e.altKey || /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName)) return;
  const lab = KEYS[e.key.toLowerCase()];
  if (lab) { e.preventDefault(); label(lab); }
});

// ---- the trade-off: the same figures as nexai.page.tradeoff, computed here
function wilson(x, n, N, z) {
  if (n <= 0) return [NaN, NaN];
  const p = x/n;
  if (N != null && n >= N) return [p, 0];
  const ne = (N == null || N <= 1) ? n : n*(N-1)/(N-n), d = 1 + z*z/ne;
  return [(p + z*z/(2*ne))/d, z/d*Math.sqrt(p*(1-p)/ne + z*z/(4*ne*ne))];
}
function stratified(strata, z) {
  const tot = strata.reduce((a, s) => a + s[0], 0);
  if (!tot) return {est: NaN, lo: NaN, hi: NaN};
  let est = 0, c = 0, v = 0, unk = 0;
  for (const [N, n, x] of strata) {
    if (!N) continue;
    const w = N/tot;
    if (!n) { unk += w; est = NaN; continue; }
    const [ch, hh] = wilson(x, n, N, z);
    est += w*x/n; c += w*ch; v += (w*hh)**2;
  }
  let lo = Math.max(0, c - Math.sqrt(v)), hi = Math.min(1, c + Math.sqrt(v) + unk);
  if (!Number.isNaN(est)) { lo = Math.min(lo, est); hi = Math.max(hi, est); }
  return {est, lo, hi};
}
function tradeoff(d, thr, z=1.96) {
  const s = d.scores, c = d.codes, n = s.length;
  // strata: [passed at thr][flagged by the line] -> N, n reviewed (the random sample only, for parts the line passed), x defects
  const S = [[[0, 0, 0], [0, 0, 0]], [[0, 0, 0], [0, 0, 0]]];
  let up = 0, escL = 0, cauL = 0;
  for (let i = 0; i < n; i++) {
    const k = c[i], f = k & 1, smp = k & 2, lab = k >> 2, u = s[i] >= thr ? 1 : 0, st = S[u][f];
    up += u; st[0]++;
    if (lab && (f || smp)) { st[1]++; if (lab === 1) st[2]++; }
    if (lab === 1) { if (u) cauL++; else escL++; }
  }
  const e = stratified([S[0][0], S[0][1]], z), k = stratified([S[1][0], S[1][1]], z);
  return {thr, n, scrap_rate: n ? up/n : NaN, escape_rate: e.est, escape_lo: e.lo, escape_hi: e.hi,
          caught: k.est*up, caught_lo: k.lo*up, caught_hi: k.hi*up, passed: n - up, flagged: up, escaped_labelled: escL, caught_labelled: cauL};
}
page.tradeoff = tradeoff;

let hist = null, thrNow = cfg.threshold;
const NB = 50;
function bins(vals, lo, hi) {
  const h = new Array(NB).fill(0); let tot = 0;
  for (const v of vals) { if (!(v >= lo && v <= hi)) continue; h[Math.min(NB - 1, Math.floor((v - lo)/(hi - lo)*NB))]++; tot++; }
  return h.map(x => tot ? x/tot : null);
}
function drawHist(d) {
  const lo = d.lo, hi = d.hi, xs = Array.from({length: NB}, (_, i) => lo + (hi - lo)*i/NB);
  const unrev = [], good = [], bad = [];
  for (let i = 0; i < d.scores.length; i++) { const lab = d.codes[i] >> 2; (lab === 2 ? good : lab === 1 ? bad : unrev).push(d.scores[i]); }
  const ref = d.reference || {good: [], defect: []};
  const data = [xs.concat([hi]), ...[unrev, good, bad, ref.good, ref.defect].map(v => bins(v, lo, hi).concat([null]))];
  if (hist) { hist.setData(data); return; }
  const st = uPlot.paths.stepped({align: 1});
  hist = new uPlot({legend: {live: false}, width: Math.max(400, $('threshold').clientWidth - 20), height: 240, cursor: {show: false},
    scales: {x: {time: false, range: [lo, hi]}}, axes: [{}, {label: 'share per bin', size: 50}],
    series: [{}, {label: `live, unreviewed`, points: {show: false}, stroke: '#6b7280', fill: 'rgba(107,114,128,.25)', paths: st},
      {label: 'live, reviewed good', points: {show: false}, stroke: '#2563eb', width: 2, paths: st}, {label: 'live, reviewed defect', points: {show: false}, stroke: '#dc2626', width: 2, paths: st},
      {label: 'reference good', points: {show: false}, stroke: '#2563eb', dash: [5, 4], paths: st}, {label: 'reference defect', points: {show: false}, stroke: '#dc2626', dash: [5, 4], paths: st}],
    hooks: {draw: [u => {
      const ctx = u.ctx, x = u.valToPos(+$('slider').value, 'x', true), x0 = u.valToPos(thrNow, 'x', true);
      ctx.save(); ctx.lineWidth = 2;
      ctx.strokeStyle = '#9ca3af'; ctx.setLineDash([3, 3]); ctx.beginPath(); ctx.moveTo(x0, u.bbox.top); ctx.lineTo(x0, u.bbox.top + u.bbox.height); ctx.stroke();
      ctx.strokeStyle = '#111827'; ctx.setLineDash([]); ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
      ctx.restore();
    }]}}, data, $('hist'));
}
function showFigures() {
  if (!page.data) return;
  const t0 = performance.now(), thr = +$('slider').value, f = tradeoff(page.data, thr);
  page.figures = f;
  const box = $('figures');
  if (!f.n) box.innerHTML = '<p class="note">No scored parts in this window.</p>';
  else box.innerHTML = `<div class="kpi"><span>threshold</span><b id="f-thr">${thr.toPrecision(4)}</b></div>`
    + `<div class="kpi"><span>scrap rate</span><b id="f-scrap">${pct(f.scrap_rate)}</b><small>${f.flagged.toLocaleString()} of ${f.n.toLocaleString()}</small></div>`
    + `<div class="kpi"><span>escape rate (95 %)</span><b id="f-escape">${pct(f.escape_rate)}</b><small id="f-escape-ci">${pct(f.escape_lo)} – ${pct(f.escape_hi)}</small></div>`
    + `<div class="kpi"><span>defects caught</span><b id="f-caught">${num(f.caught, 0)}</b><small id="f-caught-ci">${num(f.caught_lo, 0)} – ${num(f.caught_hi, 0)} · ${f.caught_labelled} labelled</small></div>`;
  if (hist) hist.redraw(false, false);
  box.dataset.ms = (performance.now() - t0).toFixed(2);
}
async function loadTradeoff() {
  const d = await getJSON(api(`tradeoff?minutes=${minutes}`));
  const bytes = s => Uint8Array.from(atob(s), ch => ch.charCodeAt(0));
  d.scores = new Float32Array(bytes(d.scores).buffer); d.codes = bytes(d.codes);  // float32 scores and one byte a part: flagged, sampled, label
  page.data = d; drawHist(d); showFigures();
}
let tTimer = null;
function scheduleTradeoff() { clearTimeout(tTimer); tTimer = setTimeout(() => { tTimer = null; loadTradeoff().catch(() => {}); }, 2000); }
$('slider').addEventListener('input', () => { $('thr-typed').value = (+$('slider').value).toPrecision(6); $('thr-msg').textContent = ''; showFigures(); });
$('thr-typed').addEventListener('change', () => {
  const v = parseFloat($('thr-typed').value);
  if (!(v >= cfg.lo && v <= cfg.hi)) { $('thr-msg').textContent = `refused: the threshold must lie in [${cfg.lo}, ${cfg.hi}]`; $('thr-msg').className = 'err'; return; }
  $('thr-msg').textContent = ''; $('slider').value = v; showFigures();
});

// ---- apply a threshold, and its history
async function refreshHistory() {
  const j = await getJSON(api('threshold'));
  thrNow = j.value; cfg.threshold = j.value; cfg.version = j.version;
  $('thr-now').textContent = (+j.value).toPrecision(4); $('thr-version').textContent = 'v' + j.version;
  const t = ts => new Date(ts*1000).toISOString().replace('T', ' ').slice(0, 19);
  $('history').tBodies[0].innerHTML = j.history.slice().reverse().map(h => `<tr><td>v${h.version}</td><td>${(+h.value).toPrecision(6)}</td><td>${h.old == null ? '' : (+h.old).toPrecision(6)}</td><td>${t(h.ts)}</td><td>${esc(h.who)}</td><td>${esc(h.reason)}</td><td>${esc(h.rule)}</td></tr>`).join('');
}
$('apply').onclick = async () => {
  const reason = $('reason').value.trim(), v = +$('slider').value, msg = $('apply-msg');
  if (!reason) { msg.textContent = 'type a reason first'; msg.className = 'err'; return; }
  const typed = parseFloat($('thr-typed').value);
  if (!(typed >= cfg.lo && typed <= cfg.hi)) { msg.textContent = `refused: the threshold must lie in [${cfg.lo}, ${cfg.hi}]`; msg.className = 'err'; return; }
  const r = await write('PUT', 'threshold', {value: v, reason});
  if (r.ok) {
    msg.textContent = `threshold ${(+r.body.value).toPrecision(4)} is version ${r.body.version}`; msg.className = 'ok'; $('reason').value = '';
    await refreshHistory(); queue = []; cur = null; await Promise.all([loadQueue(), loadTradeoff()]);
  } else { msg.textContent = 'refused: ' + (r.body.error || r.status); msg.className = 'err'; }
};

$('minutes').onchange = () => {
  minutes = +$('minutes').value; history.replaceState(null, '', `?minutes=${minutes}`);
  queue = []; cur = null; done.clear(); Promise.all([refreshLine(), loadQueue(), loadTradeoff()]);
};

Promise.all([refreshLine(), loadQueue(), loadTradeoff()])
  .then(() => { document.body.dataset.readyMs = performance.now().toFixed(0); document.body.dataset.ready = '1'; })  // ms from the navigation's start
  .catch(e => { document.body.dataset.ready = 'error'; console.error(e); });
setInterval(() => refreshLine().catch(() => {}), 10000);
setInterval(() => { if (!tTimer) loadTradeoff().catch(() => {}); }, 60000);
})();
