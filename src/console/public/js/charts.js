// Auditor charts, drawn with Apache ECharts (served by the gateway from its npm package, canvas
// renderer, nothing inline): accesses per day by department and outcome, computed from a bounded
// number of search pages; the once-only board and provider health from the reports API, shown
// only when this gateway offers those routes.
import { callJson, offers } from './api.js';
import { $, clear, h, problemText, table, unavailable } from './dom.js';
import { label, onLanguageChange, t } from './i18n.js';

const DAYS = 14;
const PAGE = 500;
const MAX_PAGES = 6; // at most 3,000 events scanned: the chart stays cheap on a busy trail
const DATA_ACTIONS = new Set(['lookup', 'batch.item', 'verification', 'case.material']);

let data = null; // {activity, onceOnly, providers}
let charts = [];
let echartsLoading = null;
let stale = false; // the language changed while the tab was hidden

function loadEcharts() {
  echartsLoading ??= new Promise((resolve, reject) => {
    const script = h('script', { src: '/console/vendor/echarts.min.js' });
    script.addEventListener('load', () => resolve(window.echarts));
    script.addEventListener('error', () => reject(new Error('echarts did not load')));
    document.head.append(script);
  });
  return echartsLoading;
}

const dayOf = (iso) => {
  const d = new Date(iso);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
};

async function loadActivity() {
  const from = new Date(Date.now() - DAYS * 86_400_000);
  from.setHours(0, 0, 0, 0);
  const days = [];
  for (let d = new Date(from); d <= new Date(); d.setDate(d.getDate() + 1)) days.push(dayOf(d.toISOString()));
  const byDept = new Map();
  const byOutcome = new Map();
  const bump = (table, key, day) => {
    if (!table.has(key)) table.set(key, new Map());
    table.get(key).set(day, (table.get(key).get(day) ?? 0) + 1);
  };
  let cursor;
  let scanned = 0;
  let truncated = false;
  for (let page = 0; page < MAX_PAGES; page += 1) {
    const answer = await callJson('POST', '/v1/audit/search', {
      body: { from: from.toISOString(), limit: PAGE, ...(cursor ? { cursor } : {}) },
    });
    for (const e of answer.events) {
      scanned += 1;
      if (!DATA_ACTIONS.has(e.action)) continue;
      bump(byDept, e.consumer ?? '—', dayOf(e.time));
      bump(byOutcome, e.outcome, dayOf(e.time));
    }
    cursor = answer.nextCursor;
    if (!cursor) break;
    truncated = page === MAX_PAGES - 1;
  }
  return { days, byDept, byOutcome, scanned, truncated };
}

/** A report route: its answer, or null when this gateway does not offer it (absent or 404). */
async function loadReport(path, query) {
  if (!(await offers('GET', path))) return null;
  try {
    return await callJson('GET', path, { query });
  } catch (err) {
    if (err.status === 404) return null;
    return { error: err };
  }
}

function chart(el, option) {
  const instance = window.echarts.init(el, null, { renderer: 'canvas' });
  instance.setOption({
    aria: { enabled: true },
    animation: false,
    tooltip: { trigger: 'axis' },
    grid: { left: 48, right: 16, top: 48, bottom: 32 },
    ...option,
  });
  charts.push(instance);
  return instance;
}

function stacked(el, days, series, name) {
  chart(el, {
    legend: { type: 'scroll', top: 0 },
    xAxis: { type: 'category', data: days.map((d) => d.slice(5)) },
    yAxis: { type: 'value', minInterval: 1, name },
    series: [...series.entries()].map(([key, perDay]) => ({
      name: key,
      type: 'bar',
      stack: 'all',
      data: days.map((d) => perDay.get(d) ?? 0),
    })),
  });
}

function renderActivity() {
  const a = data.activity;
  const none = a.byDept.size === 0;
  $('#activity-intro').textContent = [
    t('charts.activityIntro', { days: DAYS, max: PAGE * MAX_PAGES }),
    a.truncated ? t('charts.truncated', { n: a.scanned }) : '',
    none ? t('charts.empty') : '',
  ].join(' ');
  const outcomes = new Map([...a.byOutcome].map(([k, v]) => [label('outcome', k), v]));
  stacked($('#chart-dept'), a.days, a.byDept, t('col.count'));
  stacked($('#chart-outcome'), a.days, outcomes, t('col.count'));
}

const percent = (n, of) => (of > 0 ? Math.round((1000 * n) / of) / 10 : 0);

function renderOnceOnly() {
  const box = $('#once-only');
  const r = data.onceOnly;
  if (r === null) return clear(box, unavailable(t('unavailable', { what: 'GET /v1/reports/once-only' })));
  if (r.error) return clear(box, h('p', { class: 'error', role: 'alert' }, problemText(r.error, t('error.network'))));
  if (r.procedures.length === 0) return clear(box, h('p', { class: 'notice' }, t('charts.empty')));
  const rateEl = h('div', { class: 'chart short', role: 'img' });
  const reasonsEl = h('div', { class: 'chart short', role: 'img' });
  const reasons = new Map();
  for (const p of r.procedures)
    for (const [reason, n] of Object.entries(p.toSubmitByReason ?? {}))
      reasons.set(label('reason', reason), (reasons.get(label('reason', reason)) ?? 0) + n);
  clear(
    box,
    h(
      'p',
      {},
      `${t('charts.oneTripRate')}: ${percent(r.totals.oneTripCases, r.totals.cases)}% (${r.totals.oneTripCases}/${r.totals.cases})`,
    ),
    h(
      'div',
      { class: 'chart-pair' },
      h('div', {}, h('h4', {}, t('charts.oneTripRate')), rateEl),
      h('div', {}, h('h4', {}, t('charts.toSubmitReasons')), reasonsEl),
    ),
    table(
      t('charts.onceOnly'),
      [t('col.procedure'), t('col.cases'), t('col.rate'), t('charts.toSubmitReasons')],
      r.procedures.map((p) => [
        p.title || p.procedure,
        p.cases,
        `${percent(p.oneTripCases, p.cases)}%`,
        Object.entries(p.toSubmitByReason ?? {})
          .map(([k, n]) => `${label('reason', k)}: ${n}`)
          .join(', '),
      ]),
    ),
  );
  chart(rateEl, {
    xAxis: { type: 'value', max: 100, axisLabel: { formatter: '{value}%' } },
    yAxis: { type: 'category', data: r.procedures.map((p) => p.title || p.procedure) },
    grid: { left: 160, right: 24, top: 16, bottom: 32 },
    series: [{ name: t('col.rate'), type: 'bar', data: r.procedures.map((p) => percent(p.oneTripCases, p.cases)) }],
  });
  chart(reasonsEl, {
    tooltip: { trigger: 'item' },
    series: [{ name: t('col.reason'), type: 'pie', radius: ['35%', '65%'], data: [...reasons].map(([name, value]) => ({ name, value })) }],
  });
}

function renderProviders() {
  const box = $('#providers');
  const r = data.providers;
  if (r === null) return clear(box, unavailable(t('unavailable', { what: 'GET /v1/reports/providers' })));
  if (r.error) return clear(box, h('p', { class: 'error', role: 'alert' }, problemText(r.error, t('error.network'))));
  if (r.providers.length === 0) return clear(box, h('p', { class: 'notice' }, t('charts.empty')));
  const el = h('div', { class: 'chart short', role: 'img' });
  clear(
    box,
    el,
    table(
      t('charts.providers'),
      ['provider', 'calls', 'ok', 'notFound', 'failed', 'p50', 'p95', 'breaker'].map((c) => t(`col.${c}`)),
      r.providers.map((p) => [
        p.provider,
        p.calls,
        p.ok,
        p.notFound,
        p.failed,
        p.p50Ms ?? '—',
        p.p95Ms ?? '—',
        h('span', { class: `badge ${p.breaker === 'closed' ? 'ok' : 'bad'}` }, p.breaker),
      ]),
    ),
  );
  const names = r.providers.map((p) => p.provider);
  chart(el, {
    legend: { top: 0 },
    xAxis: { type: 'category', data: names },
    yAxis: { type: 'value', minInterval: 1 },
    series: ['ok', 'notFound', 'failed'].map((k) => ({
      name: t(`col.${k}`),
      type: 'bar',
      stack: 'calls',
      data: r.providers.map((p) => p[k]),
    })),
  });
}

function disposeCharts() {
  for (const c of charts) c.dispose();
  charts = [];
}

function renderAll() {
  disposeCharts();
  if (!data) return;
  renderActivity();
  renderOnceOnly();
  renderProviders();
}

/** Loads (or, with force, reloads) every chart of the charts tab. */
export async function loadCharts(force) {
  if (data && !force) {
    if (stale) renderAll();
    stale = false;
    return;
  }
  const button = $('#charts-load');
  button.disabled = true;
  $('#activity-intro').textContent = t('charts.loading');
  try {
    const to = new Date();
    const from = new Date(to.getTime() - 30 * 86_400_000);
    const query = { from: from.toISOString(), to: to.toISOString() };
    const [, activity, onceOnly, providers] = await Promise.all([
      loadEcharts(),
      loadActivity(),
      loadReport('/v1/reports/once-only', query),
      loadReport('/v1/reports/providers', query),
    ]);
    data = { activity, onceOnly, providers };
    renderAll();
  } catch (err) {
    $('#activity-intro').textContent = problemText(err, t('error.network'));
  } finally {
    button.disabled = false;
  }
}

export function resetCharts() {
  data = null;
  disposeCharts();
  for (const id of ['#once-only', '#providers']) clear($(id));
  $('#activity-intro').textContent = '';
}

$('#charts-load').addEventListener('click', () => void loadCharts(true));
onLanguageChange(() => {
  if ($('#tab-charts').hidden) stale = true;
  else renderAll();
});
window.addEventListener('resize', () => charts.forEach((c) => c.resize()));
