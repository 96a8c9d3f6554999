import { compactVerify, createLocalJWKSet } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createDemoDataset } from '../../src/demo/data.js';
import { minimiseRecord } from '../../src/policy/minimise.js';
import { DATABASE_KINDS } from '../helpers/db.js';
import { problemOf, startTestGateway, type TestGateway } from '../helpers/app.js';
import { eventsFor, post, register, requestIdOf, testType } from '../lookups/consumer.js';

const TYPE = 'income-tax-record';
const ALL_FIELDS = ['month', 'withholdingAgent', 'income', 'taxPaid'];
const HOUR = 3_600_000;

describe.each(DATABASE_KINDS)('consent and preview on %s', (kind) => {
  let gw: TestGateway;
  /** Provider calls for the consent-required type: a pending request must ask the provider nothing. */
  const providerCalls: string[] = [];
  let housing: string;
  let civil: string;
  let hr: string;
  let portal: string;
  let admin: string;
  let person: string;
  let other: string;
  let seq = 0;

  beforeAll(async () => {
    const dataset = createDemoDataset();
    gw = await startTestGateway(kind, {
      beforeRoutes: (app) => {
        // The demo taxation department, counting what it is asked about the consent-required type.
        app.adapters.registerBuiltin('taxation', (request) => {
          if (request.type === TYPE) providerCalls.push(request.subject.id);
          const record = dataset.record(request.type, request.subject.id);
          return record ? { found: true, record: minimiseRecord('record', record, request.fields) } : { found: false };
        });
      },
    });
    await register(gw, {
      types: [testType('health-record', { kind: 'builtin', name: 'public-security' }, { consent: 'required' })],
      procedures: [{ code: 'income-check', title: '收入核对', materials: ['degree-certificate', TYPE] }],
      grants: [
        // Lets civil affairs ask for the same type and purpose, so that only the department differs.
        {
          grantId: 't-civil-income',
          consumer: 'civil-affairs',
          type: TYPE,
          purposes: ['housing-fund-withdrawal'],
          fields: ALL_FIELDS,
          verifyOnly: false,
          expiresAt: null,
        },
        {
          grantId: 't-hf-income-check',
          consumer: 'housing-fund',
          type: TYPE,
          purposes: ['income-check'],
          fields: ALL_FIELDS,
          verifyOnly: false,
          expiresAt: null,
        },
      ],
    });
    [housing, civil, hr, portal, admin] = (await Promise.all(
      ['housing-fund-window', 'civil-affairs-window', 'human-resources-window', 'citizen-portal', 'platform-admin'].map((c) => gw.token(c)),
    )) as [string, string, string, string, string];
    const holders = gw.subjects.filter((s) => s.kind === 'person' && s.holds.includes(TYPE));
    person = holders[0]!.id;
    other = holders[1]!.id;
  });
  afterEach(() => {
    gw.app.consents.now = () => new Date();
  });
  afterAll(async () => gw?.close());

  const caseId = () => `HF-CONSENT-${kind}-${++seq}`;
  const lookupBody = (c: string, extra: Record<string, unknown> = {}) => ({
    type: TYPE,
    subject: { kind: 'person', id: person },
    purpose: 'housing-fund-withdrawal',
    caseId: c,
    officer: 'w07',
    ...extra,
  });
  const lookup = (body: object, token = housing) => post(gw, '/v1/lookups', token, body);
  const poll = (consentId: string, token = housing) =>
    gw.app.inject({ method: 'GET', url: `/v1/consents/${consentId}`, headers: { authorization: `Bearer ${token}` } });
  const decide = (consentId: string, decision: 'approve' | 'deny', subjectId = person) =>
    post(gw, `/v1/portal/consents/${consentId}/decision`, portal, { subject: { kind: 'person', id: subjectId }, decision });
  const consentRow = (consentId: string) =>
    gw.db.db.selectFrom('consents').selectAll().where('consent_id', '=', consentId).executeTakeFirst();

  /** A pending request for `person` with the given case id; returns its id. */
  async function requestConsent(c: string, extra: Record<string, unknown> = {}): Promise<string> {
    const res = await lookup(lookupBody(c, extra));
    expect(res.statusCode, res.body).toBe(202);
    return res.json().consentId as string;
  }
  async function approvedConsent(c: string): Promise<string> {
    const consentId = await requestConsent(c);
    expect((await decide(consentId, 'approve')).statusCode).toBe(200);
    return consentId;
  }

  it('answers 202 pending without releasing or asking anything, with one consent.request event', async () => {
    const before = providerCalls.length;
    const c = caseId();
    const res = await lookup(lookupBody(c));
    expect(res.statusCode).toBe(202);
    const body = res.json();
    expect(Object.keys(body).sort()).toEqual(['consentId', 'expiresAt', 'status']);
    expect(body.status).toBe('pending');
    const ttl = Date.parse(body.expiresAt) - Date.now();
    expect(ttl).toBeGreaterThan(167 * HOUR);
    expect(ttl).toBeLessThanOrEqual(168 * HOUR);
    expect(providerCalls.length).toBe(before);

    const events = await eventsFor(gw, requestIdOf(res));
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      action: 'consent.request',
      outcome: 'ok',
      consumer: 'housing-fund',
      type: TYPE,
      provider: 'taxation',
      purpose: 'housing-fund-withdrawal',
      case_id: c,
      officer: 'w07',
      fields: ALL_FIELDS,
      record_digest: null,
      detail: { consentId: body.consentId, via: 'lookup', reason: 'awaiting_consent' },
    });
    expect(events[0]!.subject_masked).toMatch(/^\d{3}\*+[\dX]{2}$/);

    const row = await consentRow(body.consentId);
    expect(row).toMatchObject({
      consumer: 'housing-fund',
      client_id: 'housing-fund-window',
      type: TYPE,
      purpose: 'housing-fund-withdrawal',
      case_id: c,
      status: 'pending',
    });
    expect(row!.subject_hmac).toBe(events[0]!.subject_hmac);
    expect(JSON.stringify(row)).not.toContain(person);
    expect(JSON.stringify(events[0])).not.toContain(person);
  });

  it('refuses, without creating a consent, what the policy would refuse anyway', async () => {
    const count = async () =>
      Number(
        (
          await gw.db.db
            .selectFrom('consents')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const before = await count();
    const noGrant = await lookup(lookupBody(caseId()), hr);
    expect(noGrant.statusCode).toBe(403);
    expect(problemOf(noGrant).code).toBe('NOT_GRANTED');
    const badField = await lookup(lookupBody(caseId(), { fields: ['income', 'employer'] }));
    expect(problemOf(badField).code).toBe('FIELD_NOT_ALLOWED');
    const badSubject = await lookup(
      lookupBody(caseId(), { subject: { kind: 'person', id: `${person.slice(0, 17)}${person.endsWith('1') ? '2' : '1'}` } }),
    );
    expect(badSubject.statusCode).toBe(422);
    expect(await count()).toBe(before);
  });

  it('lets only the asking department poll its request (404 NOT_FOUND for another)', async () => {
    const c = caseId();
    const consentId = await requestConsent(c);
    const res = await poll(consentId);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      consentId,
      status: 'pending',
      type: TYPE,
      fields: ALL_FIELDS,
      purpose: 'housing-fund-withdrawal',
      caseId: c,
    });
    expect(res.json()).not.toHaveProperty('decidedAt');
    const foreign = await poll(consentId, civil);
    expect(foreign.statusCode).toBe(404);
    expect(problemOf(foreign).code).toBe('NOT_FOUND');
    const unknown = await poll('00000000-0000-4000-8000-000000000000');
    expect(problemOf(unknown).code).toBe('NOT_FOUND');
    const malformed = await poll('not-a-uuid');
    expect(problemOf(malformed).code).toBe('VALIDATION_FAILED');
    expect((await poll(consentId, portal)).statusCode).toBe(403);
  });

  it('shows the person who asks, which fields, for which procedure and case; approve → 200 once → 403', async () => {
    const c = caseId();
    const consentId = await requestConsent(c);

    const search = await post(gw, '/v1/portal/consents/search', portal, { subject: { kind: 'person', id: person } });
    expect(search.statusCode).toBe(200);
    const listed = (search.json().consents as { consentId: string }[]).find((x) => x.consentId === consentId);
    expect(listed).toMatchObject({
      status: 'pending',
      type: TYPE,
      typeTitle: '个人所得税纳税记录',
      fields: ALL_FIELDS,
      purpose: 'housing-fund-withdrawal',
      procedureTitle: '住房公积金提取',
      caseId: c,
      department: { code: 'housing-fund', name: { zh: '住房公积金中心', en: 'Housing Provident Fund Centre' } },
    });
    const [searchEvent] = await eventsFor(gw, requestIdOf(search));
    expect(searchEvent).toMatchObject({ action: 'consent.search', outcome: 'ok', consumer: 'government-services' });
    const elsewhere = await post(gw, '/v1/portal/consents/search', portal, { subject: { kind: 'person', id: other } });
    expect((elsewhere.json().consents as { consentId: string }[]).some((x) => x.consentId === consentId)).toBe(false);

    const approved = await decide(consentId, 'approve');
    expect(approved.statusCode).toBe(200);
    expect(approved.json()).toMatchObject({ consentId, status: 'approved', department: { code: 'housing-fund' } });
    const [decisionEvent] = await eventsFor(gw, requestIdOf(approved));
    expect(decisionEvent).toMatchObject({
      action: 'consent.decision',
      outcome: 'ok',
      type: TYPE,
      case_id: c,
      detail: { consentId, decision: 'approved', consumer: 'housing-fund' },
    });
    expect(decisionEvent!.subject_hmac).toBe(searchEvent!.subject_hmac);
    expect((await poll(consentId)).json()).toMatchObject({ status: 'approved', decidedAt: expect.any(String) });

    const before = providerCalls.length;
    const released = await lookup(lookupBody(c, { consentId }));
    expect(released.statusCode).toBe(200);
    const body = released.json();
    expect(body.consentId).toBe(consentId);
    expect(Object.keys(body.record.rows[0]).sort()).toEqual([...ALL_FIELDS].sort());
    expect(providerCalls.length).toBe(before + 1);
    const jwks = createLocalJWKSet((await gw.app.inject({ url: '/.well-known/jwks.json' })).json());
    const proof = JSON.parse(new TextDecoder().decode((await compactVerify(body.proof, jwks)).payload));
    expect(proof).toMatchObject({ lookupId: body.lookupId, type: TYPE, consentId });
    const [useEvent] = await eventsFor(gw, requestIdOf(released));
    expect(useEvent).toMatchObject({ id: body.lookupId, action: 'lookup', outcome: 'ok', detail: { consentId } });
    expect(useEvent!.record_digest).not.toBeNull();
    expect((await poll(consentId)).json().status).toBe('used');

    const again = await lookup(lookupBody(c, { consentId }));
    expect(again.statusCode).toBe(403);
    expect(problemOf(again).code).toBe('CONSENT_NOT_VALID');
    const [refusal] = await eventsFor(gw, requestIdOf(again));
    expect(refusal).toMatchObject({ action: 'lookup', outcome: 'denied', error_code: 'CONSENT_NOT_VALID' });

    // The person's data tracker shows the request and the decision.
    const tracker = await post(gw, '/v1/audit/subject-accesses', portal, { subject: { kind: 'person', id: person } });
    const actions = (tracker.json().accesses as { action: string; caseId: string }[]).filter((a) => a.caseId === c).map((a) => a.action);
    expect(actions).toEqual(expect.arrayContaining(['consent.request', 'consent.decision', 'lookup']));
  });

  it('refuses a deny-ed consent, and a second decision with 409 CONFLICT', async () => {
    const c = caseId();
    const consentId = await requestConsent(c);
    const denied = await decide(consentId, 'deny');
    expect(denied.statusCode).toBe(200);
    expect(denied.json().status).toBe('denied');
    for (const decision of ['approve', 'deny'] as const) {
      const twice = await decide(consentId, decision);
      expect(twice.statusCode).toBe(409);
      expect(problemOf(twice).code).toBe('CONFLICT');
      const [event] = await eventsFor(gw, requestIdOf(twice));
      expect(event).toMatchObject({ action: 'consent.decision', outcome: 'denied', error_code: 'CONFLICT' });
    }
    const res = await lookup(lookupBody(c, { consentId }));
    expect(problemOf(res).code).toBe('CONSENT_NOT_VALID');
    expect((await poll(consentId)).json()).toMatchObject({ status: 'denied', decidedAt: expect.any(String) });
  });

  it('answers a decision for another subject as 404 NOT_FOUND, without deciding anything', async () => {
    const consentId = await requestConsent(caseId());
    const res = await decide(consentId, 'approve', other);
    expect(res.statusCode).toBe(404);
    expect(problemOf(res).code).toBe('NOT_FOUND');
    const unknown = await decide('00000000-0000-4000-8000-000000000000', 'approve');
    expect(problemOf(unknown).code).toBe('NOT_FOUND');
    expect((await consentRow(consentId))!.status).toBe('pending');
  });

  it('refuses a consent used for another subject, type, department, case or set of fields, and keeps it usable', async () => {
    const c = caseId();
    const consentId = await requestConsent(c);
    expect((await decide(consentId, 'approve')).statusCode).toBe(200);
    const attempts: [object, string][] = [
      [lookupBody(c, { consentId, subject: { kind: 'person', id: other } }), housing],
      [lookupBody(c, { consentId, type: 'health-record' }), housing],
      [lookupBody(c, { consentId, type: 'household-registration' }), housing],
      [lookupBody(caseId(), { consentId }), housing],
      [lookupBody(c, { consentId, fields: ['month', 'income'] }), housing],
      [lookupBody(c, { consentId }), civil],
      [lookupBody(c, { consentId: '00000000-0000-4000-8000-000000000000' }), housing],
    ];
    for (const [body, token] of attempts) {
      const res = await lookup(body, token);
      expect(res.statusCode, JSON.stringify(body)).toBe(403);
      expect(problemOf(res).code).toBe('CONSENT_NOT_VALID');
    }
    expect((await lookup(lookupBody(c, { consentId }))).statusCode).toBe(200);
  });

  it('lets a request and an approval lapse after CONSENT_TTL_HOURS (injectable clock)', async () => {
    const pendingId = await requestConsent(caseId());
    const c = caseId();
    const approvedId = await approvedConsent(c);
    gw.app.consents.now = () => new Date(Date.now() + 168 * HOUR + 60_000);
    expect((await poll(pendingId)).json().status).toBe('expired');
    expect((await poll(approvedId)).json().status).toBe('expired');
    const late = await decide(pendingId, 'approve');
    expect(late.statusCode).toBe(409);
    expect(problemOf(late).code).toBe('CONFLICT');
    const use = await lookup(lookupBody(c, { consentId: approvedId }));
    expect(use.statusCode).toBe(403);
    expect(problemOf(use).code).toBe('CONSENT_NOT_VALID');
    gw.app.consents.now = () => new Date();
    expect((await poll(pendingId)).json().status).toBe('pending');
  });

  it('releases an approved consent exactly once to concurrent repeats', async () => {
    const c = caseId();
    const consentId = await approvedConsent(c);
    const answers = await Promise.all(Array.from({ length: 8 }, () => lookup(lookupBody(c, { consentId }))));
    const statuses = answers.map((r) => r.statusCode).sort();
    expect(statuses).toEqual([200, 403, 403, 403, 403, 403, 403, 403]);
    for (const r of answers.filter((x) => x.statusCode === 403)) expect(problemOf(r).code).toBe('CONSENT_NOT_VALID');
    const released = await gw.db.db
      .selectFrom('audit_events')
      .selectAll()
      .where('action', '=', 'lookup')
      .where('outcome', '=', 'ok')
      .where('case_id', '=', c)
      .execute();
    expect(released).toHaveLength(1);
  });

  it('answers a batch item of a consent-required type as pending, and releases it with its consentId', async () => {
    const c = caseId();
    const batch = (items: object[]) =>
      post(gw, '/v1/lookups/batch', housing, {
        subject: { kind: 'person', id: person },
        purpose: 'housing-fund-withdrawal',
        caseId: c,
        items,
      });
    const res = await batch([{ type: 'household-registration' }, { type: TYPE }]);
    expect(res.statusCode).toBe(200);
    const [first, second] = res.json().results;
    expect(first.status).toBe('ok');
    expect(second).toMatchObject({ type: TYPE, status: 'pending', consentId: expect.any(String), expiresAt: expect.any(String) });
    const events = await eventsFor(gw, requestIdOf(res));
    expect(events.map((e) => e.action).sort()).toEqual(['batch.item', 'consent.request']);
    expect(events.find((e) => e.action === 'consent.request')!.detail).toMatchObject({ consentId: second.consentId, via: 'batch.item' });

    expect((await decide(second.consentId, 'approve')).statusCode).toBe(200);
    const released = await batch([{ type: TYPE, consentId: second.consentId }]);
    expect(released.json().results[0]).toMatchObject({ type: TYPE, status: 'ok', consentId: second.consentId });
    const reused = await batch([{ type: TYPE, consentId: second.consentId }]);
    expect(reused.json().results[0]).toMatchObject({ status: 'error', error: { code: 'CONSENT_NOT_VALID' } });
  });

  it('leaves a case material awaiting consent, with its consentId and a case.material event', async () => {
    const c = caseId();
    const res = await post(gw, '/v1/cases', housing, {
      procedure: 'income-check',
      applicant: { kind: 'person', id: person },
      caseId: c,
      officer: 'w07',
    });
    expect(res.statusCode).toBe(201);
    const material = (res.json().materials as { type: string }[]).find((m) => m.type === TYPE);
    expect(material).toMatchObject({ status: 'to_submit', reason: 'awaiting_consent', consentId: expect.any(String) });
    expect(material).not.toHaveProperty('record');
    const events = await eventsFor(gw, requestIdOf(res));
    expect(events).toHaveLength(2);
    expect(events.every((e) => e.action === 'case.material')).toBe(true);
    const event = events.find((e) => e.type === TYPE)!;
    expect(event).toMatchObject({
      outcome: 'denied',
      error_code: null,
      purpose: 'income-check',
      detail: { reason: 'awaiting_consent', via: 'case.material' },
    });
    const consentId = (material as unknown as { consentId: string }).consentId;
    expect(event.detail).toMatchObject({ consentId });

    expect((await decide(consentId, 'approve')).statusCode).toBe(200);
    const fetched = await lookup({ type: TYPE, subject: { kind: 'person', id: person }, purpose: 'income-check', caseId: c, consentId });
    expect(fetched.statusCode).toBe(200);
  });

  it('refuses a verification of a consent-required type', async () => {
    const res = await post(gw, '/v1/verifications', housing, {
      type: TYPE,
      subject: { kind: 'person', id: person },
      purpose: 'housing-fund-withdrawal',
      caseId: caseId(),
      claim: { field: 'income', op: 'gte', value: 1 },
    });
    expect(res.statusCode).toBe(403);
    expect(problemOf(res).code).toBe('CONSENT_NOT_VALID');
  });

  it('shows the consent rule in the catalogue and the admin API, and lets the operator set it', async () => {
    const auth = (token: string) => ({ authorization: `Bearer ${token}` });
    const catalog = await gw.app.inject({ url: '/v1/catalog', headers: auth(housing) });
    const byType = new Map((catalog.json().types as { type: string; consent: string }[]).map((t) => [t.type, t.consent]));
    expect(byType.get(TYPE)).toBe('required');
    expect(byType.get('household-registration')).toBe('none');
    expect((await gw.app.inject({ url: `/v1/catalog/${TYPE}`, headers: auth(housing) })).json().consent).toBe('required');
    expect((await gw.app.inject({ url: `/v1/admin/types/${TYPE}`, headers: auth(admin) })).json().consent).toBe('required');

    const {
      type: _t,
      createdAt: _c,
      updatedAt: _u,
      consent: _consent,
      ...definition
    } = (await gw.app.inject({ url: '/v1/admin/types/degree-certificate', headers: auth(admin) })).json();
    const put = (body: object) =>
      gw.app.inject({ method: 'PUT', url: '/v1/admin/types/consent-demo', headers: auth(admin), payload: body });
    const created = await put({ ...definition, consent: 'required' });
    expect(created.statusCode).toBe(201);
    expect(created.json().consent).toBe('required');
    expect(gw.app.registry).toBeDefined();
    expect((await gw.app.registry.get()).types.get('consent-demo')?.consent).toBe('required');
    // Omitted, it is `none` (PUT replaces the whole definition).
    const replaced = await put(definition);
    expect(replaced.json().consent).toBe('none');
    const bad = await put({ ...definition, consent: 'maybe' });
    expect(problemOf(bad).code).toBe('VALIDATION_FAILED');
  });
});
