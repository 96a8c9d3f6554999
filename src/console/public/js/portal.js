// Portal mode: what a government portal would embed for a person it has authenticated. The data
// tracker in plain words, and — where this gateway offers them — pending consents to decide and
// objections to file. The subject's id travels in request bodies only.
import { callJson, offers } from './api.js';
import { $, clear, formValues, h, problemText } from './dom.js';
import { formatTime, label, language, onLanguageChange, t } from './i18n.js';

let view = null; // {subject, masked, accesses, nextCursor, consents, objections, error, notice}

const deptName = (name, code) => (name ? name[language() === 'en' ? 'en' : 'zh'] || name.zh : code) || t('portal.unknownDept');

function accessItem(a) {
  const vars = {
    who: deptName(a.consumerName, a.consumer),
    action: label('action', a.action),
    what: a.typeTitle || a.type || '—',
    procedure: a.procedureTitle || a.purpose || '—',
    caseId: a.caseId,
  };
  return h(
    'li',
    {},
    h(
      'p',
      { class: 'when' },
      formatTime(a.time),
      ' · ',
      h('span', { class: `badge ${a.outcome === 'ok' ? 'ok' : 'bad'}` }, label('outcome', a.outcome)),
    ),
    h('p', { class: 'what' }, t(a.caseId ? 'portal.sentence' : 'portal.sentenceNoCase', vars)),
    a.fields.length ? h('p', { class: 'extra' }, t('portal.fieldsReleased', { fields: a.fields.join(', ') })) : null,
    a.officer ? h('p', { class: 'extra' }, t('portal.officer', { officer: a.officer })) : null,
  );
}

async function loadAccesses(more) {
  const body = { subject: view.subject, limit: 20, ...(more && view.nextCursor ? { cursor: view.nextCursor } : {}) };
  const page = await callJson('POST', '/v1/audit/subject-accesses', { body });
  view.masked = page.subject.id;
  view.accesses = more ? [...view.accesses, ...page.accesses] : page.accesses;
  view.nextCursor = page.nextCursor;
}

/** Consents and objections: null when this gateway does not offer them, so their panels stay hidden. */
async function loadOptional() {
  const subject = view.subject;
  const [consents, objections] = await Promise.all([
    offers('POST', '/v1/portal/consents/search').then((yes) =>
      yes ? callJson('POST', '/v1/portal/consents/search', { body: { subject } }).then((r) => r.consents, ignore404) : null,
    ),
    offers('POST', '/v1/portal/objections/search').then((yes) =>
      yes ? callJson('POST', '/v1/portal/objections/search', { body: { subject } }).then((r) => r.objections, ignore404) : null,
    ),
  ]);
  view.consents = consents;
  view.objections = objections;
}

function ignore404(err) {
  if (err.status === 404) return null;
  throw err;
}

async function run(task) {
  try {
    await task();
    view.error = null;
  } catch (err) {
    view.error = err;
  }
  render();
}

async function decide(consentId, decision) {
  await run(async () => {
    await callJson('POST', `/v1/portal/consents/${encodeURIComponent(consentId)}/decision`, { body: { subject: view.subject, decision } });
    await loadOptional();
  });
}

async function fileObjection(form) {
  const values = formValues(form);
  await run(async () => {
    await callJson('POST', '/v1/portal/objections', {
      body: { subject: view.subject, type: values.type, ...(values.field ? { field: values.field } : {}), statement: values.statement },
    });
    view.notice = t('portal.objFiled');
    await loadOptional();
  });
}

function consentsPanel() {
  if (view.consents === null || view.consents === undefined) return null;
  const pending = view.consents.filter((c) => c.status === 'pending');
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'consents-h' },
    h('h3', { id: 'consents-h' }, t('portal.consents')),
    pending.length === 0
      ? h('p', { class: 'notice' }, t('portal.noConsents'))
      : h(
          'ol',
          { class: 'accesses' },
          pending.map((c) =>
            h(
              'li',
              {},
              h(
                'p',
                { class: 'what' },
                t('portal.consentLine', {
                  dept: deptName(c.consumerName ?? c.departmentName, c.consumer ?? c.department),
                  what: c.typeTitle || c.type,
                  procedure: c.procedureTitle || c.purpose,
                  caseId: c.caseId,
                  expires: formatTime(c.expiresAt),
                }),
              ),
              h('p', { class: 'extra' }, (c.fields ?? []).join(', ')),
              h(
                'div',
                { class: 'actions' },
                h('button', { type: 'button', class: 'primary', onclick: () => void decide(c.consentId, 'approve') }, t('portal.approve')),
                h('button', { type: 'button', onclick: () => void decide(c.consentId, 'deny') }, t('portal.deny')),
              ),
            ),
          ),
        ),
  );
}

function objectionsPanel() {
  if (view.objections === null || view.objections === undefined) return null;
  const types = [...new Set(view.accesses.map((a) => a.type).filter(Boolean))];
  const form = h(
    'form',
    {
      method: 'post',
      autocomplete: 'off',
      onsubmit: (e) => {
        e.preventDefault();
        void fileObjection(e.currentTarget);
      },
    },
    h('h4', {}, t('portal.fileObjection')),
    h(
      'div',
      { class: 'grid' },
      h(
        'div',
        {},
        h('label', { for: 'o-type' }, t('portal.objType')),
        h('input', { id: 'o-type', name: 'type', required: true, list: 'o-types', spellcheck: 'false' }),
        h(
          'datalist',
          { id: 'o-types' },
          types.map((v) => h('option', { value: v })),
        ),
      ),
      h('div', {}, h('label', { for: 'o-field' }, t('portal.objField')), h('input', { id: 'o-field', name: 'field', spellcheck: 'false' })),
    ),
    h('label', { for: 'o-statement' }, t('portal.objStatement')),
    h('textarea', { id: 'o-statement', name: 'statement', required: true, maxlength: '2000' }),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, t('portal.objSubmit'))),
  );
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'objections-h' },
    h('h3', { id: 'objections-h' }, t('portal.objections')),
    view.objections.length === 0
      ? h('p', { class: 'notice' }, t('portal.noObjections'))
      : h(
          'ol',
          { class: 'accesses' },
          view.objections.map((o) =>
            h(
              'li',
              {},
              h('p', { class: 'when' }, formatTime(o.createdAt)),
              h(
                'p',
                { class: 'what' },
                t('portal.objLine', {
                  type: o.type,
                  field: o.field ? ` / ${o.field}` : '',
                  statement: o.statement,
                  status: label('status', o.status),
                }),
              ),
              o.response ? h('p', { class: 'extra' }, o.response) : null,
            ),
          ),
        ),
    form,
  );
}

function render() {
  const box = $('#portal-results');
  if (!view) return clear(box);
  const parts = [];
  if (view.error) parts.push(h('p', { class: 'error', role: 'alert' }, problemText(view.error, t('error.network'))));
  if (view.notice) parts.push(h('p', { class: 'status' }, view.notice));
  if (view.masked) {
    parts.push(
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'accesses-h' },
        h('h3', { id: 'accesses-h' }, t('portal.accesses', { subject: view.masked })),
        view.accesses.length === 0
          ? h('p', { class: 'notice' }, t('portal.none'))
          : h('ol', { class: 'accesses', id: 'accesses' }, view.accesses.map(accessItem)),
        view.nextCursor ? h('button', { type: 'button', onclick: () => void run(() => loadAccesses(true)) }, t('portal.more')) : null,
      ),
    );
    parts.push(consentsPanel(), objectionsPanel());
  }
  clear(box, parts);
}

export function startPortal() {
  view = null;
  render();
  $('#p-id').focus();
}

export function stopPortal() {
  view = null;
  $('#portal-form').reset();
  render();
}

$('#portal-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const values = formValues(event.currentTarget);
  view = {
    subject: { kind: values.kind, id: values.id },
    masked: null,
    accesses: [],
    nextCursor: null,
    consents: null,
    objections: null,
    error: null,
    notice: null,
  };
  void run(async () => {
    await loadAccesses(false);
    await loadOptional();
  });
});
onLanguageChange(() => render());
