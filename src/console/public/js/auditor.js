// Auditor mode: the trail newest first with paging, the search form over every filter of
// POST /v1/audit/search, an event's full detail, export of the current filter, chain verification.
// Filters travel in request bodies only: the page's own address never changes.
import { call, callJson, offers } from './api.js';
import { $, announce, clear, formValues, h, problemText, table } from './dom.js';
import { formatTime, label, onLanguageChange, t } from './i18n.js';
import { loadCharts, resetCharts } from './charts.js';

const PAGE_SIZE = 25;
const TEXT_FILTERS = ['consumer', 'provider', 'type', 'purpose', 'caseId', 'officer', 'outcome', 'action'];
/** The detail dialog shows every member of an event, in the order of the contract. */
const EVENT_MEMBERS = [
  'seq',
  'id',
  'time',
  'requestId',
  'consumer',
  'clientId',
  'officer',
  'action',
  'type',
  'provider',
  'subjectKind',
  'subjectMasked',
  'subjectHmac',
  'purpose',
  'caseId',
  'fields',
  'outcome',
  'errorCode',
  'latencyMs',
  'recordDigest',
  'detail',
  'prevHash',
  'hash',
];

let trail = null; // {filters, cursors, index, events, nextCursor, error}
let verified = null; // the last verify answer or error
let active = false;

/** The search body for the form's current values (datetime-local is the reader's local time). */
function filtersFrom(form) {
  const values = formValues(form);
  const filters = {};
  for (const name of TEXT_FILTERS) if (values[name]) filters[name] = values[name];
  for (const name of ['from', 'to']) if (values[name]) filters[name] = new Date(values[name]).toISOString();
  if (values.subjectId) filters.subject = { kind: values.subjectKind || 'person', id: values.subjectId };
  return filters;
}

async function loadPage(index) {
  const cursor = trail.cursors[index];
  try {
    const page = await callJson('POST', '/v1/audit/search', {
      body: { ...trail.filters, limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) },
    });
    trail.index = index;
    trail.events = page.events;
    trail.nextCursor = page.nextCursor;
    trail.cursors[index + 1] = page.nextCursor ?? undefined;
    trail.error = null;
  } catch (err) {
    trail.error = err;
  }
  renderTrail();
}

const outcomeBadge = (outcome) => h('span', { class: `badge ${outcome === 'ok' ? 'ok' : 'bad'}` }, label('outcome', outcome));

function renderTrail() {
  const box = $('#trail-results');
  if (!trail) return clear(box);
  if (trail.error) return clear(box, h('p', { class: 'error', role: 'alert' }, problemText(trail.error, t('error.network'))));
  const rows = trail.events.map((e) => [
    h('span', { class: 'mono' }, e.seq),
    formatTime(e.time),
    label('action', e.action),
    e.consumer ?? '',
    e.type ?? '',
    h('span', { class: 'mono' }, e.subjectMasked ?? ''),
    e.purpose ?? '',
    h('span', { class: 'mono' }, e.caseId ?? ''),
    outcomeBadge(e.outcome),
    h(
      'button',
      { type: 'button', class: 'ghost', 'aria-label': t('detail.openLabel', { seq: e.seq }), onclick: () => openDetail(e) },
      t('detail.open'),
    ),
  ]);
  const headers = ['seq', 'time', 'action', 'consumer', 'type', 'subject', 'purpose', 'caseId', 'outcome', 'detail'].map((c) =>
    t(`col.${c}`),
  );
  clear(
    box,
    rows.length === 0 ? h('p', { class: 'notice' }, t('trail.empty')) : table(t('trail.caption'), headers, rows, { id: 'trail-table' }),
  );
  $('#page-label').textContent = `${t('trail.page', { n: trail.index + 1 })} · ${t('trail.count', { n: trail.events.length })}`;
  $('#page-newest').disabled = trail.index === 0;
  $('#page-newer').disabled = trail.index === 0;
  $('#page-older').disabled = !trail.nextCursor;
}

function openDetail(event) {
  const dialog = $('#detail');
  $('#detail-h').textContent = t('detail.heading', { seq: event.seq });
  const value = (name) => {
    const v = event[name];
    if (name === 'fields') return v.length ? v.join(', ') : t('detail.none');
    if (name === 'time') return `${v} (${formatTime(v)})`;
    if (v === null || v === undefined) return '—';
    return typeof v === 'object' ? JSON.stringify(v, null, 1) : String(v);
  };
  const mono = new Set(['id', 'requestId', 'subjectHmac', 'recordDigest', 'prevHash', 'hash', 'detail']);
  clear(
    $('#detail-body'),
    h(
      'dl',
      { class: 'detail' },
      EVENT_MEMBERS.flatMap((name) => [
        h('dt', {}, name === 'fields' ? `${name} (${t('detail.fields')})` : name),
        h('dd', { class: mono.has(name) ? 'mono' : undefined, dataset: { member: name } }, value(name)),
      ]),
    ),
  );
  dialog.showModal();
}

async function exportCurrent() {
  const accept = $('#export-format').value;
  const filters = trail ? trail.filters : filtersFrom($('#search-form'));
  try {
    const res = await call('POST', '/v1/audit/export', { body: filters, accept });
    const blob = await res.blob();
    const given = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') || '');
    const name = given ? given[1] : `audit-export.${accept === 'text/csv' ? 'csv' : 'ndjson'}`;
    saveBlob(blob, name);
  } catch (err) {
    announce(problemText(err, t('error.network')));
  }
}

async function verify() {
  const button = $('#verify');
  button.disabled = true;
  clear($('#verify-result'), h('p', {}, t('verify.busy')));
  try {
    const [answer, checkpoints] = await Promise.all([callJson('GET', '/v1/audit/verify'), offers('GET', '/v1/audit/checkpoints')]);
    verified = { answer, checkpoints };
  } catch (err) {
    verified = { error: err };
  }
  button.disabled = false;
  renderVerify();
}

function renderVerify() {
  const box = $('#verify-result');
  if (!verified) return clear(box);
  if (verified.error) return clear(box, h('p', { class: 'error', role: 'alert' }, problemText(verified.error, t('error.network'))));
  const v = verified.answer;
  const pair = (term, value, mono = false) => [h('dt', {}, term), h('dd', { class: mono ? 'mono' : undefined }, value)];
  const checkpoint = v.latestCheckpoint;
  clear(
    box,
    h('p', { id: 'verify-verdict', class: `badge ${v.ok ? 'ok' : 'bad'}` }, v.ok ? t('verify.ok') : t('verify.broken')),
    h(
      'dl',
      { class: 'detail' },
      pair(t('verify.checked'), v.checked),
      pair(t('verify.head'), `#${v.head.seq} ${v.head.hash}`, true),
      v.anchor ? pair(t('verify.anchor'), `#${v.anchor.seq} ${v.anchor.hash}`, true) : [],
      v.firstBrokenSeq ? pair(t('verify.firstBroken'), v.firstBrokenSeq) : [],
      v.reason ? pair(t('verify.reason'), v.reason) : [],
      pair(
        t('verify.checkpoint'),
        checkpoint ? `#${checkpoint.seq} ${checkpoint.hash} (${formatTime(checkpoint.time)})` : t('verify.noCheckpoint'),
        Boolean(checkpoint),
      ),
    ),
    verified.checkpoints
      ? h(
          'div',
          { class: 'actions' },
          h(
            'button',
            { type: 'button', id: 'checkpoints-download', onclick: () => void downloadCheckpoints() },
            t('verify.downloadCheckpoints'),
          ),
          h('span', { class: 'hint' }, t('verify.checkpointsHint')),
        )
      : null,
  );
}

/** Saves a file the browser made (an export, the checkpoints) under name. */
function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = h('a', { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  announce(t('export.done', { name }));
}

const CHECKPOINT_PAGE = 500;
const CHECKPOINT_PAGES = 40;

/**
 * Every signed checkpoint, one per line, for keeping elsewhere and for the CLI's offline check
 * (`audit verify --file export.ndjson --checkpoints checkpoints.ndjson`).
 */
async function downloadCheckpoints() {
  try {
    const lines = [];
    let after = 0;
    for (let page = 0; page < CHECKPOINT_PAGES; page += 1) {
      const { checkpoints } = await callJson('GET', '/v1/audit/checkpoints', {
        query: { after: String(after), limit: String(CHECKPOINT_PAGE) },
      });
      for (const c of checkpoints) lines.push(JSON.stringify(c));
      if (checkpoints.length < CHECKPOINT_PAGE) break;
      after = checkpoints[checkpoints.length - 1].seq;
    }
    saveBlob(
      new Blob(
        lines.map((l) => `${l}\n`),
        { type: 'application/x-ndjson' },
      ),
      'checkpoints.ndjson',
    );
  } catch (err) {
    announce(problemText(err, t('error.network')));
  }
}

function selectTab(name) {
  for (const button of document.querySelectorAll('#auditor .tabs button')) {
    if (button.dataset.tab === name) button.setAttribute('aria-current', 'page');
    else button.removeAttribute('aria-current');
  }
  for (const tab of ['trail', 'charts', 'verify']) $(`#tab-${tab}`).hidden = tab !== name;
  if (name === 'charts') void loadCharts(false);
}

export async function startAuditor() {
  active = true;
  // On a phone the filters start folded, so the trail is on the first screen.
  $('#filters').open = !window.matchMedia('(max-width: 40rem)').matches;
  selectTab('trail');
  trail = { filters: {}, cursors: [undefined], index: 0, events: [], nextCursor: null, error: null };
  await loadPage(0);
}

export function stopAuditor() {
  active = false;
  trail = null;
  verified = null;
  $('#search-form').reset();
  renderTrail();
  renderVerify();
  resetCharts();
}

$('#search-form').addEventListener('submit', (event) => {
  event.preventDefault();
  trail = { filters: filtersFrom(event.currentTarget), cursors: [undefined], index: 0, events: [], nextCursor: null, error: null };
  void loadPage(0);
});
$('#page-newest').addEventListener('click', () => void loadPage(0));
$('#page-newer').addEventListener('click', () => void loadPage(Math.max(0, trail.index - 1)));
$('#page-older').addEventListener('click', () => void loadPage(trail.index + 1));
$('#export').addEventListener('click', () => void exportCurrent());
$('#verify').addEventListener('click', () => void verify());
for (const button of document.querySelectorAll('#auditor .tabs button'))
  button.addEventListener('click', () => selectTab(button.dataset.tab));
onLanguageChange(() => {
  if (!active) return;
  renderTrail();
  renderVerify();
});
