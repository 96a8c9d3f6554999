import { createLocalJWKSet, compactVerify } from 'jose';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf } from '../../src/lookups/proof.js';
import { DATABASE_KINDS } from '../helpers/db.js';
import { problemOf, gatewayForSuite } from '../helpers/app.js';
import { startFakeProvider, type FakeProvider } from '../helpers/fake-provider.js';
import { eventsFor, post, register, requestIdOf, testType } from './consumer.js';

describe.each(DATABASE_KINDS)('POST /v1/verifications on %s', (kind) => {
  const suite = gatewayForSuite(kind, { tokens: { housing: 'housing-fund-window', taxation: 'taxation-window' } });
  let married: string;
  let unmarried: string;
  let provider: FakeProvider;

  beforeAll(async () => {
    provider = await startFakeProvider();
    await register(suite.gw, { types: [testType('fake-register', { kind: 'http', url: `${provider.url}/answer`, timeoutMs: 2000 })] });
    const persons = suite.gw.subjects.filter((s) => s.kind === 'person');
    married = persons.find((s) => s.holds.includes('marriage-registration') && s.holds.includes('social-insurance-contributions'))!.id;
    unmarried = persons.find((s) => !s.holds.includes('marriage-registration'))!.id;
  });
  afterAll(async () => {
    await provider?.close();
  });

  const verify = (body: Record<string, unknown>, token = suite.tokens.housing) => post(suite.gw, '/v1/verifications', token, body);
  const housingBody = (claim: object, extra: object = {}) => ({
    type: 'household-registration',
    subject: { kind: 'person', id: married },
    purpose: 'housing-fund-withdrawal',
    caseId: 'HF-2026-V0001',
    claim,
    ...extra,
  });

  it('answers a date claim with a result and a proof over {claim, result}, and audits field and op only', async () => {
    const claim = { field: 'birthDate', op: 'lte', value: '2100-01-01' };
    const res = await verify(housingBody(claim));
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ type: 'household-registration', provider: 'public-security', claim, result: true });
    expect(body.subject.id).not.toBe(married);
    expect(body).not.toHaveProperty('record');

    const jwks = createLocalJWKSet((await suite.gw.app.inject({ url: '/.well-known/jwks.json' })).json());
    const { payload } = await compactVerify(body.proof, jwks);
    const claims = JSON.parse(new TextDecoder().decode(payload));
    expect(claims).toMatchObject({
      lookupId: body.lookupId,
      subject: body.subject,
      purpose: 'housing-fund-withdrawal',
      caseId: 'HF-2026-V0001',
      fetchedAt: body.verifiedAt,
    });
    expect(claims.digest).toBe(digestOf({ claim, result: true }));

    const [event] = await eventsFor(suite.gw, requestIdOf(res));
    expect(event).toMatchObject({
      id: body.lookupId,
      action: 'verification',
      outcome: 'ok',
      fields: [],
      detail: { claimField: 'birthDate', op: 'lte' },
    });
    expect(JSON.stringify(event)).not.toContain('2100-01-01');

    const later = await verify(housingBody({ field: 'birthDate', op: 'gte', value: '2100-01-01' }));
    expect(later.json().result).toBe(false);
  });

  it('asks the provider for the claimed field only', async () => {
    const before = provider.calls.length;
    const res = await verify(housingBody({ field: 'name', op: 'eq', value: '张测试' }, { type: 'fake-register' }));
    expect(res.statusCode).toBe(200);
    expect(res.json().result).toBe(true);
    expect(provider.calls).toHaveLength(before + 1);
    expect((provider.calls.at(-1)!.body as { fields: string[] }).fields).toEqual(['name']);
  });

  it('never stores the compared value, even for a sensitive field', async () => {
    const secret = '欧阳秘密';
    const res = await verify(housingBody({ field: 'spouseName', op: 'eq', value: secret }, { type: 'marriage-registration' }));
    expect(res.statusCode).toBe(200);
    expect(res.json().result).toBe(false);
    const rows = await sql<{ t: string }>`select row_to_json(a)::text as t from audit_events a`.execute(suite.gw.db.db);
    expect(rows.rows.map((r) => r.t).join('\n')).not.toContain(secret);
  });

  it('allows a verifyOnly grant to verify but not to look up', async () => {
    const body = {
      type: 'marriage-registration',
      subject: { kind: 'person', id: married },
      purpose: 'special-additional-deduction',
      caseId: 'TX-2026-1',
    };
    const res = await verify({ ...body, claim: { field: 'status', op: 'exists' } }, suite.tokens.taxation);
    expect(res.statusCode).toBe(200);
    expect(res.json().result).toBe(true);

    const lookup = await post(suite.gw, '/v1/lookups', suite.tokens.taxation, { ...body, fields: ['status'] });
    expect(lookup.statusCode).toBe(403);
    expect(problemOf(lookup).code).toBe('NOT_GRANTED');

    const outside = await verify({ ...body, claim: { field: 'spouseName', op: 'exists' } }, suite.tokens.taxation);
    expect(outside.statusCode).toBe(403);
    expect(problemOf(outside).code).toBe('FIELD_NOT_ALLOWED');

    const purpose = await verify(
      { ...body, purpose: 'housing-fund-withdrawal', claim: { field: 'status', op: 'exists' } },
      suite.tokens.taxation,
    );
    expect(purpose.statusCode).toBe(403);
    expect(problemOf(purpose).code).toBe('PURPOSE_NOT_ALLOWED');
    const [event] = await eventsFor(suite.gw, problemOf(purpose).requestId);
    expect(event).toMatchObject({
      action: 'verification',
      outcome: 'denied',
      error_code: 'PURPOSE_NOT_ALLOWED',
      detail: { claimField: 'status', op: 'exists' },
    });
  });

  it('holds a claim on a record type when a row satisfies it', async () => {
    const body = housingBody({ field: 'month', op: 'exists' }, { type: 'social-insurance-contributions' });
    const res = await verify(body);
    expect(res.statusCode).toBe(200);
    expect(res.json().result).toBe(true);
    const never = await verify(housingBody({ field: 'month', op: 'eq', value: '1900-01' }, { type: 'social-insurance-contributions' }));
    expect(never.json().result).toBe(false);
  });

  it('answers 404 RECORD_NOT_FOUND when the provider holds nothing, and audits it', async () => {
    const res = await verify(
      housingBody(
        { field: 'status', op: 'eq', value: 'married' },
        { type: 'marriage-registration', subject: { kind: 'person', id: unmarried } },
      ),
    );
    expect(res.statusCode).toBe(404);
    expect(problemOf(res).code).toBe('RECORD_NOT_FOUND');
    const [event] = await eventsFor(suite.gw, problemOf(res).requestId);
    expect(event).toMatchObject({ action: 'verification', outcome: 'not_found', provider: 'civil-affairs' });
  });

  it.each([
    ['exists with a value', { field: 'name', op: 'exists', value: 'x' }],
    ['eq without a value', { field: 'name', op: 'eq' }],
    ['gte with a boolean', { field: 'birthDate', op: 'gte', value: true }],
    ['a date compared with a number', { field: 'birthDate', op: 'lte', value: 1965 }],
    ['an enum compared with a number', { field: 'gender', op: 'eq', value: 1 }],
    ['an unknown op', { field: 'name', op: 'like', value: '%' }],
    ['an object value', { field: 'name', op: 'eq', value: { a: 1 } }],
  ])('refuses %s with 400 VALIDATION_FAILED, audited', async (_label, claim) => {
    const res = await verify(housingBody(claim));
    expect(res.statusCode).toBe(400);
    expect(problemOf(res).code).toBe('VALIDATION_FAILED');
    const events = await eventsFor(suite.gw, problemOf(res).requestId);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ action: 'verification', outcome: 'denied', error_code: 'VALIDATION_FAILED' });
  });

  it.each([
    ['a type that is never shared', { type: 'criminal-record', claim: { field: 'hasRecord', op: 'eq', value: true } }, 403, 'NOT_GRANTED'],
    ['an unknown field', { claim: { field: 'shoeSize', op: 'exists' } }, 403, 'FIELD_NOT_ALLOWED'],
    ['an unknown type', { type: 'dragon-licence' }, 404, 'UNKNOWN_TYPE'],
    ['an enterprise id for a person type', { subject: { kind: 'enterprise', id: '91350100M000100Y43' } }, 422, 'INVALID_SUBJECT_ID'],
  ])('refuses %s', async (_label, extra, status, code) => {
    const res = await verify({ ...housingBody({ field: 'name', op: 'exists' }), ...extra });
    expect(res.statusCode).toBe(status);
    expect(problemOf(res).code).toBe(code);
    const [event] = await eventsFor(suite.gw, problemOf(res).requestId);
    expect(event).toMatchObject({ action: 'verification', error_code: code });
  });
});
