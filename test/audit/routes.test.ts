import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { csvCell, negotiateExportFormat } from '../../src/audit/export.js';
import { verifyNdjson } from '../../src/audit/verify.js';
import { encodeCursor } from '../../src/audit/query.js';
import { problemOf, gatewayForSuite } from '../helpers/app.js';
import { DATABASE_KINDS } from '../helpers/db.js';
import { linesOf, lookupBody, personHolding, post, verifyApi } from './support.js';

describe('export content negotiation and CSV cells', () => {
  it.each([
    [undefined, 'ndjson'],
    ['', 'ndjson'],
    ['*/*', 'ndjson'],
    ['application/x-ndjson', 'ndjson'],
    ['text/csv', 'csv'],
    ['text/*', 'csv'],
    ['text/csv;q=0.5, application/x-ndjson', 'ndjson'],
    ['application/x-ndjson;q=0.2, text/csv;q=0.9', 'csv'],
    ['text/html, */*;q=0.1', 'ndjson'],
    ['text/html', null],
    ['application/json', null],
    ['text/csv;q=0', null],
  ])('Accept %j selects %s', (accept, expected) => {
    expect(negotiateExportFormat(accept)).toBe(expected);
  });

  it.each([
    [null, ''],
    ['plain', 'plain'],
    ['a,b', '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    ['=1+2', "'=1+2"],
    ['@SUM(A1)', "'@SUM(A1)"],
    ['-3', "'-3"],
    [['name', 'gender'], 'name;gender'],
    [{ a: 1 }, '"{""a"":1}"'],
  ])('csvCell(%j) = %s', (value, expected) => {
    expect(csvCell(value)).toBe(expected);
  });
});

describe.each(DATABASE_KINDS)('audit routes on %s', (kind) => {
  const suite = gatewayForSuite(kind, { tokens: { consumer: 'housing-fund-window', auditor: 'audit-office', portal: 'citizen-portal' } });
  let alice: string;
  let bob: string;

  beforeAll(async () => {
    alice = personHolding(suite.gw, 'household-registration', 0);
    bob = personHolding(suite.gw, 'household-registration', 1);
    // Alice: three releases and one denial; Bob: one release with an officer a spreadsheet would run (a leading minus).
    for (let i = 0; i < 3; i++)
      expect((await post(suite.gw, '/v1/lookups', suite.tokens.consumer, lookupBody(alice, { caseId: `HF-A-${i}` }))).statusCode).toBe(200);
    expect((await post(suite.gw, '/v1/lookups', suite.tokens.consumer, lookupBody(alice, { type: 'dragon-licence' }))).statusCode).toBe(
      404,
    );
    expect((await post(suite.gw, '/v1/lookups', suite.tokens.consumer, lookupBody(bob, { officer: '-window-07' }))).statusCode).toBe(200);
  });

  const search = (body: Record<string, unknown>, token = suite.tokens.auditor) => post(suite.gw, '/v1/audit/search', token, body);

  it('finds a subject by HMAC, newest first, showing only the masked id and the HMAC', async () => {
    const res = await search({ subject: { kind: 'person', id: alice }, action: 'lookup' });
    expect(res.statusCode).toBe(200);
    expect(res.body).not.toContain(alice);
    const { events, nextCursor } = res.json();
    expect(nextCursor).toBeNull();
    expect(events).toHaveLength(4);
    expect(events.map((e: { seq: number }) => e.seq)).toEqual([...events.map((e: { seq: number }) => e.seq)].sort((a, b) => b - a));
    expect(new Set(events.map((e: { subjectHmac: string }) => e.subjectHmac)).size).toBe(1);
    expect(events[0]).toMatchObject({
      subjectKind: 'person',
      subjectMasked: expect.stringMatching(/^\d{3}\*+[\dX]{2}$/),
      action: 'lookup',
      outcome: 'denied',
      errorCode: 'UNKNOWN_TYPE',
    });
    expect(Object.keys(events[0]).sort()).toEqual(
      [
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
        'subjectHmac',
        'subjectMasked',
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
      ].sort(),
    );
  });

  it('combines filters and pages with an opaque cursor without overlap', async () => {
    const all = (await search({ consumer: 'housing-fund', action: 'lookup', outcome: 'ok', limit: 500 })).json().events as Array<{
      seq: number;
    }>;
    expect(all).toHaveLength(4);
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const res = await search({ consumer: 'housing-fund', action: 'lookup', outcome: 'ok', limit: 3, ...(cursor ? { cursor } : {}) });
      expect(res.statusCode).toBe(200);
      const page = res.json();
      seen.push(...page.events.map((e: { seq: number }) => e.seq));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(all.map((e) => e.seq));
    expect((await search({ caseId: 'HF-A-1' })).json().events).toHaveLength(1);
    expect(
      (
        await search({
          officer: '-window-07',
          type: 'household-registration',
          provider: 'public-security',
          purpose: 'housing-fund-withdrawal',
        })
      ).json().events,
    ).toHaveLength(1);
    expect((await search({ from: '2000-01-01T00:00:00Z', to: '2000-02-01T00:00:00Z' })).json().events).toHaveLength(0);
  });

  it.each([
    ['garbage', 'not a cursor!'],
    ['base64 of something else', Buffer.from('{"seq":5}').toString('base64url')],
    ['a negative seq', Buffer.from('{"v":1,"before":-4}').toString('base64url')],
  ])('refuses %s as cursor with 400 VALIDATION_FAILED', async (_label, cursor) => {
    const res = await search({ cursor });
    expect(res.statusCode).toBe(400);
    expect(problemOf(res).code).toBe('VALIDATION_FAILED');
  });

  it.each([[{ limit: 501 }], [{ colour: 'blue' }], [{ subject: { kind: 'person' } }], [{ from: 'yesterday' }]])(
    'refuses the search body %j with 400 VALIDATION_FAILED',
    async (body) => {
      const res = await search(body);
      expect(res.statusCode).toBe(400);
      expect(problemOf(res).code).toBe('VALIDATION_FAILED');
    },
  );

  it('lets only auditors search, export and verify; the portal may use the tracker', async () => {
    for (const token of [suite.tokens.consumer, suite.tokens.portal]) {
      for (const [method, url] of [
        ['POST', '/v1/audit/search'],
        ['POST', '/v1/audit/export'],
        ['GET', '/v1/audit/verify'],
      ] as const) {
        const res = await suite.gw.app.inject({
          method,
          url,
          headers: { authorization: `Bearer ${token}` },
          ...(method === 'POST' ? { payload: {} } : {}),
        });
        expect(res.statusCode, `${method} ${url}`).toBe(403);
        expect(problemOf(res).code).toBe('FORBIDDEN');
      }
    }
    const tracker = await post(suite.gw, '/v1/audit/subject-accesses', suite.tokens.consumer, { subject: { kind: 'person', id: alice } });
    expect(tracker.statusCode).toBe(403);
    expect(problemOf(tracker).code).toBe('FORBIDDEN');
    expect((await post(suite.gw, '/v1/audit/search', null, {})).statusCode).toBe(401);
    const denied = await suite.gw.db.db
      .selectFrom('audit_events')
      .selectAll()
      .where('request_id', '=', problemOf(tracker).requestId)
      .execute();
    expect(denied).toMatchObject([{ action: 'audit.subject-accesses', outcome: 'denied', error_code: 'FORBIDDEN' }]);
  });

  it('records each search as an audit.search event with the subject only as HMAC and masked form', async () => {
    const res = await search({ subject: { kind: 'person', id: bob }, outcome: 'ok' });
    const [event] = await suite.gw.db.db
      .selectFrom('audit_events')
      .selectAll()
      .where('request_id', '=', res.headers['x-request-id'] as string)
      .execute();
    expect(event).toMatchObject({
      action: 'audit.search',
      outcome: 'ok',
      consumer: 'discipline-inspection',
      client_id: 'audit-office',
      subject_kind: 'person',
    });
    expect(event!.subject_hmac).toBe(res.json().events[0].subjectHmac);
    expect(event!.detail).toEqual({ filters: { outcome: 'ok' }, limit: 50, page: 'first', returned: 1 });
    expect(JSON.stringify(event)).not.toContain(bob);
  });

  it('exports the whole trail as NDJSON, oldest first, that verifies offline from genesis', async () => {
    const res = await post(suite.gw, '/v1/audit/export', suite.tokens.auditor, {});
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/x-ndjson/);
    const lines = res.body.split('\n').filter(Boolean);
    const events = lines.map((l) => JSON.parse(l) as { seq: number; action: string });
    expect(events.map((e) => e.seq)).toEqual(events.map((_e, i) => i + 1));
    expect(events.at(-1)!.action).toBe('audit.export'); // recorded before the first byte
    const verdict = await verifyNdjson(linesOf(res.body));
    expect(verdict).toMatchObject({ ok: true, checked: lines.length, anchored: true });
    expect(res.body).not.toContain(alice);
  });

  it('exports CSV with a header, one row per event and formula cells defused', async () => {
    const res = await post(
      suite.gw,
      '/v1/audit/export',
      suite.tokens.auditor,
      { subject: { kind: 'person', id: bob } },
      { accept: 'text/csv' },
    );
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/csv/);
    const rows = res.body.split('\r\n').filter(Boolean);
    expect(rows[0]).toMatch(/^seq,id,time,requestId,consumer,clientId,officer,action,/);
    expect(rows.length).toBe(1 + 3); // the lookup and the two audit reads of Bob so far
    expect(rows[1]).toContain(",'-window-07,");
  });

  it('refuses an Accept it cannot serve with 400 VALIDATION_FAILED', async () => {
    const res = await post(suite.gw, '/v1/audit/export', suite.tokens.auditor, {}, { accept: 'application/pdf' });
    expect(res.statusCode).toBe(400);
    expect(problemOf(res).code).toBe('VALIDATION_FAILED');
  });

  it('verifies the chain up to the stored head', async () => {
    const verdict = await verifyApi(suite.gw, suite.tokens.auditor);
    const head = await suite.gw.db.db.selectFrom('audit_chain_head').selectAll().executeTakeFirstOrThrow();
    const latest = await suite.gw.db.db
      .selectFrom('audit_checkpoints')
      .select(['seq', 'hash'])
      .orderBy('seq', 'desc')
      .executeTakeFirstOrThrow();
    expect(verdict).toEqual({
      ok: true,
      checked: Number(head.seq),
      head: { seq: Number(head.seq), hash: head.hash },
      latestCheckpoint: { seq: Number(latest.seq), hash: latest.hash, time: expect.any(String) },
    });
  });

  it('shows the portal who accessed a person, with names, excluding audit reads', async () => {
    await search({ subject: { kind: 'person', id: alice } });
    const res = await post(suite.gw, '/v1/audit/subject-accesses', suite.tokens.portal, {
      subject: { kind: 'person', id: alice },
      limit: 3,
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.subject.id).not.toBe(alice);
    expect(body.accesses).toHaveLength(3);
    expect(body.accesses[0]).toMatchObject({
      consumer: 'housing-fund',
      consumerName: { zh: '住房公积金中心', en: 'Housing Provident Fund Centre' },
      type: 'dragon-licence',
      typeTitle: null,
      outcome: 'denied',
      action: 'lookup',
      procedureTitle: '住房公积金提取',
    });
    expect(body.accesses[1]).toMatchObject({
      type: 'household-registration',
      typeTitle: expect.any(String),
      provider: 'public-security',
      caseId: 'HF-A-2',
      outcome: 'ok',
    });
    const next = await post(suite.gw, '/v1/audit/subject-accesses', suite.tokens.portal, {
      subject: { kind: 'person', id: alice },
      limit: 3,
      cursor: body.nextCursor,
    });
    expect(next.json().accesses).toHaveLength(1);
    expect(next.json().nextCursor).toBeNull();

    const recorded = await suite.gw.db.db
      .selectFrom('audit_events')
      .selectAll()
      .where('request_id', '=', res.headers['x-request-id'] as string)
      .executeTakeFirstOrThrow();
    expect(recorded).toMatchObject({ action: 'audit.subject-accesses', consumer: 'government-services', subject_masked: body.subject.id });
  });

  it('answers a subject nobody asked about with an empty list, and an invalid id with 422', async () => {
    const nobody = personHolding(suite.gw, 'household-registration', 5);
    const empty = await post(suite.gw, '/v1/audit/subject-accesses', suite.tokens.auditor, { subject: { kind: 'person', id: nobody } });
    expect(empty.json()).toMatchObject({ accesses: [], nextCursor: null });
    const invalid = await post(suite.gw, '/v1/audit/subject-accesses', suite.tokens.portal, {
      subject: { kind: 'person', id: alice.slice(0, 17) + (alice.endsWith('1') ? '2' : '1') },
    });
    expect(invalid.statusCode).toBe(422);
    expect(problemOf(invalid).code).toBe('INVALID_SUBJECT_ID');
    const badCursor = await post(suite.gw, '/v1/audit/subject-accesses', suite.tokens.portal, {
      subject: { kind: 'person', id: alice },
      cursor: encodeCursor(1).slice(2),
    });
    expect(badCursor.statusCode).toBe(400);
  });

  it('never stores a raw subject id, whatever was searched', async () => {
    const rows = await sql<{ t: string }>`select row_to_json(a)::text as t from audit_events a`.execute(suite.gw.db.db);
    const everything = rows.rows.map((r) => r.t).join('\n');
    expect(everything).not.toContain(alice);
    expect(everything).not.toContain(bob);
  });
});
