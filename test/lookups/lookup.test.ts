import { generateKeyPairSync } from 'node:crypto';
import { Writable } from 'node:stream';
import { createLocalJWKSet, compactVerify } from 'jose';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loggerOptions } from '../../src/logging.js';
import { DATABASE_KINDS } from '../helpers/db.js';
import { problemOf, startTestGateway, type TestGateway } from '../helpers/app.js';

/** Replaces the check digit with a wrong one. */
function breakCheckDigit(id: string): string {
  const last = id.at(-1)!;
  return id.slice(0, 17) + (last === '1' ? '2' : '1');
}

function base64url(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

describe.each(DATABASE_KINDS)('POST /v1/lookups on %s', (kind) => {
  let gw: TestGateway;
  let token: string;
  let person: string;
  const logLines: string[] = [];

  beforeAll(async () => {
    const stream = new Writable({
      write(chunk, _enc, cb) {
        logLines.push(String(chunk));
        cb();
      },
    });
    gw = await startTestGateway(kind, { logger: { ...(loggerOptions({ logLevel: 'trace' }) as object), stream } });
    token = await gw.token('housing-fund-window');
    person = gw.subjects.find((s) => s.kind === 'person' && s.holds.includes('household-registration'))!.id;
  });
  afterAll(async () => gw?.close());

  const lookup = (body: Record<string, unknown>, auth: string | null = `Bearer ${token}`) =>
    gw.app.inject({ method: 'POST', url: '/v1/lookups', headers: auth ? { authorization: auth } : {}, payload: body });

  const validBody = () => ({
    type: 'household-registration',
    subject: { kind: 'person', id: person },
    purpose: 'housing-fund-withdrawal',
    caseId: 'HF-2026-000001',
  });

  async function eventsFor(requestId: string) {
    return gw.db.db.selectFrom('audit_events').selectAll().where('request_id', '=', requestId).execute();
  }

  it('returns the granted fields, the masked subject and a verifiable proof, after committing the audit event', async () => {
    const res = await lookup(validBody());
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.type).toBe('household-registration');
    expect(body.provider).toBe('public-security');
    expect(body.subject.id).not.toBe(person);
    expect(body.subject.id).toMatch(/^\d{3}\*+[\dX]{2}$/);
    expect(Object.keys(body.record).sort()).toEqual(
      ['name', 'gender', 'birthDate', 'address', 'householder', 'relationToHouseholder', 'registrationNumber'].sort(),
    );

    const jwks = createLocalJWKSet((await gw.app.inject({ url: '/.well-known/jwks.json' })).json());
    const { payload } = await compactVerify(body.proof, jwks);
    const claims = JSON.parse(new TextDecoder().decode(payload));
    expect(claims).toMatchObject({
      lookupId: body.lookupId,
      type: 'household-registration',
      caseId: 'HF-2026-000001',
      subject: body.subject,
    });

    const [event] = await eventsFor(res.headers['x-request-id'] as string);
    expect(event).toMatchObject({
      id: body.lookupId,
      action: 'lookup',
      outcome: 'ok',
      consumer: 'housing-fund',
      client_id: 'housing-fund-window',
      record_digest: claims.digest,
    });
    expect(event!.subject_masked).toBe(body.subject.id);
    expect(event!.subject_hmac).toMatch(/^[0-9a-f]{64}$/);
  });

  it.each([
    ['a wrong check digit', (id: string) => breakCheckDigit(id)],
    ['an impossible birth date', (id: string) => id.slice(0, 6) + '19900230' + id.slice(14)],
  ])('refuses %s with 422 INVALID_SUBJECT_ID and audits it', async (_label, mangle) => {
    const res = await lookup({ ...validBody(), subject: { kind: 'person', id: mangle(person) } });
    expect(res.statusCode).toBe(422);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(problemOf(res).code).toBe('INVALID_SUBJECT_ID');
    const [event] = await eventsFor(problemOf(res).requestId);
    expect(event).toMatchObject({ outcome: 'denied', error_code: 'INVALID_SUBJECT_ID', action: 'lookup' });
  });

  it('refuses a missing token with 401 UNAUTHENTICATED and audits it', async () => {
    const res = await lookup(validBody(), null);
    expect(res.statusCode).toBe(401);
    expect(problemOf(res).code).toBe('UNAUTHENTICATED');
    const [event] = await eventsFor(problemOf(res).requestId);
    expect(event).toMatchObject({ outcome: 'denied', error_code: 'UNAUTHENTICATED', consumer: null });
  });

  it('refuses a token with alg none', async () => {
    const [, payload] = token.split('.');
    const res = await lookup(validBody(), `Bearer ${base64url({ alg: 'none', typ: 'JWT' })}.${payload}.`);
    expect(res.statusCode).toBe(401);
    expect(problemOf(res).code).toBe('UNAUTHENTICATED');
    expect(await eventsFor(problemOf(res).requestId)).toHaveLength(1);
  });

  it('refuses a token signed by another key', async () => {
    const [header, payload] = token.split('.');
    const { privateKey } = generateKeyPairSync('ed25519');
    const { sign } = await import('node:crypto');
    const signature = sign(null, Buffer.from(`${header}.${payload}`), privateKey).toString('base64url');
    const res = await lookup(validBody(), `Bearer ${header}.${payload}.${signature}`);
    expect(res.statusCode).toBe(401);
    expect(problemOf(res).code).toBe('UNAUTHENTICATED');
  });

  it('answers an unknown type with 404 UNKNOWN_TYPE and audits it', async () => {
    const res = await lookup({ ...validBody(), type: 'dragon-licence' });
    expect(res.statusCode).toBe(404);
    expect(problemOf(res).code).toBe('UNKNOWN_TYPE');
    const [event] = await eventsFor(problemOf(res).requestId);
    expect(event).toMatchObject({ outcome: 'denied', error_code: 'UNKNOWN_TYPE', type: 'dragon-licence' });
  });

  it('refuses an unknown body property with 400 VALIDATION_FAILED and audits it', async () => {
    const res = await lookup({ ...validBody(), colour: 'blue' });
    expect(res.statusCode).toBe(400);
    expect(problemOf(res).code).toBe('VALIDATION_FAILED');
    expect(problemOf(res).detail).toContain('colour');
    const [event] = await eventsFor(problemOf(res).requestId);
    expect(event).toMatchObject({ outcome: 'denied', error_code: 'VALIDATION_FAILED' });
  });

  it('never writes the raw resident id to the log or the audit table', async () => {
    await lookup(validBody());
    await lookup({ ...validBody(), subject: { kind: 'person', id: breakCheckDigit(person) } });
    const rows = await sql<{ t: string }>`select row_to_json(a)::text as t from audit_events a`.execute(gw.db.db);
    const everything = rows.rows.map((r) => r.t).join('\n');
    expect(rows.rows.length).toBeGreaterThan(0);
    expect(everything).not.toContain(person);
    expect(everything).not.toContain(breakCheckDigit(person));
    const logs = logLines.join('');
    expect(logs.length).toBeGreaterThan(0);
    expect(logs).not.toContain(person);
    expect(logs).not.toContain(breakCheckDigit(person));
    expect(logs).not.toContain(token);
  });
});
