import { beforeAll, describe, expect, it } from 'vitest';
import { problemOf, gatewayForSuite } from '../helpers/app.js';
import { DATABASE_KINDS } from '../helpers/db.js';
import { lookupBody, personHolding, post } from '../audit/support.js';

/** The payload of a compact JWS (the proof), unverified: only its members are checked here. */
const proofPayload = (jws: string) => JSON.parse(Buffer.from(jws.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;

describe.each(DATABASE_KINDS)('objections on %s', (kind) => {
  const suite = gatewayForSuite(kind, {
    tokens: { admin: 'platform-admin', consumer: 'housing-fund-window', portal: 'citizen-portal', provider: 'public-security-staff' },
  });
  let otherProvider: string;
  let alice: string;
  let bob: string;
  let objectionId: string;

  beforeAll(async () => {
    alice = personHolding(suite.gw, 'household-registration', 0);
    bob = personHolding(suite.gw, 'household-registration', 1);
  });

  const get = (url: string, token: string) => suite.gw.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
  const eventOf = (res: { headers: Record<string, unknown> }) =>
    suite.gw.db.db
      .selectFrom('audit_events')
      .selectAll()
      .where('request_id', '=', res.headers['x-request-id'] as string)
      .orderBy('seq')
      .execute();
  const file = (body: Record<string, unknown>, token = suite.tokens.portal) =>
    post(suite.gw, '/v1/portal/objections', token, {
      subject: { kind: 'person', id: alice },
      type: 'household-registration',
      statement: '住址不对',
      ...body,
    });
  const lookup = async (id: string) => {
    const res = await post(suite.gw, '/v1/lookups', suite.tokens.consumer, lookupBody(id));
    expect(res.statusCode).toBe(200);
    return res.json() as { disputed: boolean; proof: string };
  };

  it('lets the admin API create provider clients', async () => {
    const created = await suite.gw.app.inject({
      method: 'POST',
      url: '/v1/admin/departments/civil-affairs/clients',
      headers: { authorization: `Bearer ${suite.tokens.admin}` },
      payload: { roles: ['provider'] },
    });
    expect(created.statusCode).toBe(201);
    const { clientId, clientSecret, roles } = created.json();
    expect(roles).toEqual(['provider']);
    const token = await suite.gw.app.inject({
      method: 'POST',
      url: '/v1/auth/token',
      payload: { grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret },
    });
    expect(token.statusCode).toBe(200);
    otherProvider = token.json().access_token;
  });

  it('releases every record with disputed: false while nothing is disputed', async () => {
    const released = await lookup(alice);
    expect(released.disputed).toBe(false);
    expect(proofPayload(released.proof).disputed).toBe(false);
  });

  it('refuses objections that do not fit: statement, type, field, subject, lookup, role', async () => {
    const long = await file({ statement: 'x'.repeat(2001) });
    expect(long.statusCode).toBe(400);
    expect(problemOf(long).code).toBe('VALIDATION_FAILED');
    const [longEvent] = await eventOf(long);
    expect(longEvent).toMatchObject({
      action: 'objection.file',
      outcome: 'denied',
      error_code: 'VALIDATION_FAILED',
      type: 'household-registration',
    });
    expect(JSON.stringify(longEvent)).not.toContain(alice);

    expect((await file({ statement: '' })).statusCode).toBe(400);
    const unknownType = await file({ type: 'dragon-licence' });
    expect([unknownType.statusCode, problemOf(unknownType).code]).toEqual([404, 'UNKNOWN_TYPE']);
    const badField = await file({ field: 'shoeSize' });
    expect([badField.statusCode, problemOf(badField).code]).toEqual([400, 'VALIDATION_FAILED']);
    const enterprise = suite.gw.subjects.find((s) => s.kind === 'enterprise')!;
    const wrongKind = await file({ subject: { kind: 'enterprise', id: enterprise.id } });
    expect([wrongKind.statusCode, problemOf(wrongKind).code]).toEqual([422, 'INVALID_SUBJECT_ID']);
    const unknownLookup = await file({ lookupId: '00000000-0000-4000-8000-000000000000' });
    expect([unknownLookup.statusCode, problemOf(unknownLookup).code]).toEqual([404, 'NOT_FOUND']);
    // A real lookup, but of another person: not this subject's access.
    const bobs = await post(suite.gw, '/v1/lookups', suite.tokens.consumer, lookupBody(bob));
    const otherSubject = await file({ lookupId: bobs.json().lookupId });
    expect([otherSubject.statusCode, problemOf(otherSubject).code]).toEqual([404, 'NOT_FOUND']);
    const asConsumer = await file({}, suite.tokens.consumer);
    expect([asConsumer.statusCode, problemOf(asConsumer).code]).toEqual([403, 'FORBIDDEN']);
    expect(await suite.gw.db.db.selectFrom('objections').selectAll().execute()).toEqual([]);
  });

  it('files an objection (201, audited without the statement or the raw id) that disputes every release of that record', async () => {
    const shown = await post(suite.gw, '/v1/lookups', suite.tokens.consumer, lookupBody(alice, { caseId: 'SHOWN-1' }));
    const res = await file({ field: 'address', lookupId: shown.json().lookupId, statement: '我已迁出该住址' });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body).toEqual({
      objectionId: expect.any(String),
      status: 'open',
      type: 'household-registration',
      provider: 'public-security',
      createdAt: expect.any(String),
    });
    objectionId = body.objectionId;

    const [event] = await eventOf(res);
    expect(event).toMatchObject({
      action: 'objection.file',
      outcome: 'ok',
      type: 'household-registration',
      provider: 'public-security',
      subject_kind: 'person',
    });
    expect(event!.detail).toEqual({ objectionId, field: 'address', lookupId: shown.json().lookupId });
    expect(event!.subject_hmac).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(event)).not.toContain(alice);
    expect(JSON.stringify(event)).not.toContain('我已迁出该住址');
    const row = await suite.gw.db.db.selectFrom('objections').selectAll().where('objection_id', '=', objectionId).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'open', subject_hmac: event!.subject_hmac, field: 'address', filed_by: 'citizen-portal' });
    expect(row.subject_sealed).not.toContain(alice);

    const disputed = await lookup(alice);
    expect(disputed.disputed).toBe(true);
    expect(proofPayload(disputed.proof).disputed).toBe(true);
    expect((await lookup(bob)).disputed).toBe(false);

    const batch = await post(suite.gw, '/v1/lookups/batch', suite.tokens.consumer, {
      subject: { kind: 'person', id: alice },
      purpose: 'housing-fund-withdrawal',
      caseId: 'OBJ-B',
      items: [{ type: 'household-registration' }, { type: 'marriage-registration' }],
    });
    const results = batch.json().results as Array<{ type: string; disputed: boolean; proof: string }>;
    expect(results.map((r) => [r.type, r.disputed, proofPayload(r.proof).disputed])).toEqual([
      ['household-registration', true, true],
      ['marriage-registration', false, false],
    ]);
    const caseRes = await post(suite.gw, '/v1/cases', suite.tokens.consumer, {
      procedure: 'housing-fund-withdrawal',
      applicant: { kind: 'person', id: alice },
      caseId: 'OBJ-C',
    });
    const materials = caseRes.json().materials as Array<{ type: string; status: string; disputed?: boolean }>;
    expect(materials.find((m) => m.type === 'household-registration')).toMatchObject({ status: 'fetched', disputed: true });
    for (const m of materials.filter((x) => x.type !== 'household-registration' && x.status === 'fetched')) expect(m.disputed).toBe(false);
  });

  it('shows the person their objections through the portal', async () => {
    const res = await post(suite.gw, '/v1/portal/objections/search', suite.tokens.portal, { subject: { kind: 'person', id: alice } });
    expect(res.statusCode).toBe(200);
    expect(res.json().objections).toEqual([
      {
        objectionId,
        status: 'open',
        type: 'household-registration',
        field: 'address',
        statement: '我已迁出该住址',
        createdAt: expect.any(String),
      },
    ]);
    const [event] = await eventOf(res);
    expect(event).toMatchObject({ action: 'objection.search', outcome: 'ok', subject_kind: 'person' });
    expect(
      (await post(suite.gw, '/v1/portal/objections/search', suite.tokens.portal, { subject: { kind: 'person', id: bob } })).json()
        .objections,
    ).toEqual([]);
    expect(
      (await post(suite.gw, '/v1/portal/objections/search', suite.tokens.consumer, { subject: { kind: 'person', id: bob } })).statusCode,
    ).toBe(403);
  });

  it('lists open objections, with the subject id, to the provider department only', async () => {
    const res = await get('/v1/objections?status=open', suite.tokens.provider);
    expect(res.statusCode).toBe(200);
    const [listed, ...rest] = res.json().objections;
    expect(rest).toEqual([]);
    expect(listed).toMatchObject({
      objectionId,
      status: 'open',
      type: 'household-registration',
      provider: 'public-security',
      field: 'address',
      subject: { kind: 'person', id: alice },
      statement: '我已迁出该住址',
    });
    const [event] = await eventOf(res);
    expect(event).toMatchObject({ action: 'objection.list', outcome: 'ok', consumer: 'public-security' });
    expect(event!.detail).toEqual({ status: 'open', returned: 1, objectionIds: [objectionId] });
    expect(JSON.stringify(event)).not.toContain(alice);

    expect((await get('/v1/objections', suite.tokens.provider)).json().objections).toHaveLength(1);
    expect((await get('/v1/objections?status=corrected', suite.tokens.provider)).json().objections).toEqual([]);
    expect((await get('/v1/objections', otherProvider)).json().objections).toEqual([]);
    expect((await get('/v1/objections?status=maybe', suite.tokens.provider)).statusCode).toBe(400);
    const asPortal = await get('/v1/objections', suite.tokens.portal);
    expect([asPortal.statusCode, problemOf(asPortal).code]).toEqual([403, 'FORBIDDEN']);
  });

  it('answers 404 to another department and for an unknown objection, 400 for a malformed id', async () => {
    const url = `/v1/objections/${objectionId}/resolution`;
    const wrong = await post(suite.gw, url, otherProvider, { status: 'rejected', response: '不是我们的' });
    expect([wrong.statusCode, problemOf(wrong).code]).toEqual([404, 'NOT_FOUND']);
    const [event] = await eventOf(wrong);
    expect(event).toMatchObject({ action: 'objection.resolve', outcome: 'denied', error_code: 'NOT_FOUND', consumer: 'civil-affairs' });
    const unknown = await post(suite.gw, '/v1/objections/00000000-0000-4000-8000-000000000000/resolution', suite.tokens.provider, {
      status: 'rejected',
      response: 'x',
    });
    expect([unknown.statusCode, problemOf(unknown).code]).toEqual([404, 'NOT_FOUND']);
    expect(
      (await post(suite.gw, '/v1/objections/not-a-uuid/resolution', suite.tokens.provider, { status: 'rejected', response: 'x' }))
        .statusCode,
    ).toBe(400);
    expect((await post(suite.gw, url, suite.tokens.provider, { status: 'open', response: 'x' })).statusCode).toBe(400);
    expect((await post(suite.gw, url, suite.tokens.provider, { status: 'corrected', response: 'x'.repeat(2001) })).statusCode).toBe(400);
    expect((await lookup(alice)).disputed).toBe(true);
  });

  it('resolves once (then 409), clearing disputed and answering the person', async () => {
    const url = `/v1/objections/${objectionId}/resolution`;
    const res = await post(suite.gw, url, suite.tokens.provider, { status: 'corrected', response: '已更正住址' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      objectionId,
      status: 'corrected',
      response: '已更正住址',
      resolvedAt: expect.any(String),
      subject: { kind: 'person', id: alice },
    });
    const [event] = await eventOf(res);
    expect(event).toMatchObject({
      action: 'objection.resolve',
      outcome: 'ok',
      type: 'household-registration',
      subject_kind: 'person',
      consumer: 'public-security',
    });
    expect(event!.detail).toEqual({ objectionId, status: 'corrected' });
    expect(JSON.stringify(event)).not.toContain(alice);

    const again = await post(suite.gw, url, suite.tokens.provider, { status: 'rejected', response: '再来一次' });
    expect([again.statusCode, problemOf(again).code]).toEqual([409, 'CONFLICT']);
    const [refused] = await eventOf(again);
    expect(refused).toMatchObject({ action: 'objection.resolve', outcome: 'denied', error_code: 'CONFLICT' });
    const row = await suite.gw.db.db.selectFrom('objections').selectAll().where('objection_id', '=', objectionId).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'corrected', response: '已更正住址', resolved_by: 'public-security-staff' });

    const released = await lookup(alice);
    expect(released.disputed).toBe(false);
    expect(proofPayload(released.proof).disputed).toBe(false);
    expect((await get('/v1/objections', suite.tokens.provider)).json().objections).toEqual([]);
    expect((await get('/v1/objections?status=corrected', suite.tokens.provider)).json().objections).toHaveLength(1);

    const mine = await post(suite.gw, '/v1/portal/objections/search', suite.tokens.portal, { subject: { kind: 'person', id: alice } });
    expect(mine.json().objections).toEqual([
      {
        objectionId,
        status: 'corrected',
        type: 'household-registration',
        field: 'address',
        statement: '我已迁出该住址',
        response: '已更正住址',
        createdAt: expect.any(String),
        resolvedAt: expect.any(String),
      },
    ]);
  });

  it('keeps a record disputed while any one of its objections is open', async () => {
    const first = (await file({ statement: '出生日期错误', field: 'birthDate' })).json().objectionId as string;
    const second = (await file({ statement: '姓名错误', field: 'name' })).json().objectionId as string;
    expect((await lookup(alice)).disputed).toBe(true);
    expect(
      (await post(suite.gw, `/v1/objections/${first}/resolution`, suite.tokens.provider, { status: 'rejected', response: '经核实无误' }))
        .statusCode,
    ).toBe(200);
    expect((await lookup(alice)).disputed).toBe(true);
    expect(
      (await post(suite.gw, `/v1/objections/${second}/resolution`, suite.tokens.provider, { status: 'rejected', response: '经核实无误' }))
        .statusCode,
    ).toBe(200);
    expect((await lookup(alice)).disputed).toBe(false);
  });

  it('lets exactly one of two concurrent resolutions win; the other is 409 and audited', async () => {
    const id = (await file({ statement: '并发' })).json().objectionId as string;
    const url = `/v1/objections/${id}/resolution`;
    const answers = await Promise.all([
      post(suite.gw, url, suite.tokens.provider, { status: 'corrected', response: 'A' }),
      post(suite.gw, url, suite.tokens.provider, { status: 'rejected', response: 'B' }),
    ]);
    expect(answers.map((a) => a.statusCode).sort()).toEqual([200, 409]);
    const winner = answers.find((a) => a.statusCode === 200)!.json();
    const row = await suite.gw.db.db.selectFrom('objections').selectAll().where('objection_id', '=', id).executeTakeFirstOrThrow();
    expect([row.status, row.response]).toEqual([winner.status, winner.response]);
    const loser = answers.find((a) => a.statusCode === 409)!;
    const events = await eventOf(loser);
    expect(events.at(-1)).toMatchObject({ action: 'objection.resolve', outcome: 'denied', error_code: 'CONFLICT' });
    expect((await lookup(alice)).disputed).toBe(false);
  });

  it('never writes a raw subject id into the audit trail', async () => {
    const rows = await suite.gw.db.db.selectFrom('audit_events').selectAll().execute();
    const text = JSON.stringify(rows);
    expect(text).not.toContain(alice);
    expect(text).not.toContain(bob);
  });
});
