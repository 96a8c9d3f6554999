/**
 * Issue 9, "Hostile input never hurts": each failure found by the fuzzing and the attack list,
 * reproduced as it was sent, on PGlite and PostgreSQL. Every one of these answered 5xx, leaked the
 * path, stored free text or answered an oracle before the fix.
 */
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upsertGrant, upsertType } from '../../src/registry/repository.js';
import { problemOf, startTestGateway, type TestGateway } from '../helpers/app.js';
import { DATABASE_KINDS } from '../helpers/db.js';
import { startFakeProvider, type FakeProvider } from '../helpers/fake-provider.js';
import { eventsFor, register, requestIdOf, testType } from '../lookups/consumer.js';
import { lookupBody, personHolding, verifyApi } from '../audit/support.js';

/** `oauth`: the token endpoint may answer OAuth clients as application/json with the problem members (ARCHITECTURE.md). */
function expectProblem(res: LightMyRequestResponse, status: number, code: string, oauth = false) {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(oauth ? /^application\/(problem\+)?json/ : /^application\/problem\+json/);
  const body = problemOf(res);
  expect(body.code).toBe(code);
  expect(body.requestId).toBe(res.headers['x-request-id']);
  return body;
}

describe.each(DATABASE_KINDS)('hostile input on %s', (kind) => {
  let gw: TestGateway;
  let provider: FakeProvider;
  let consumer: string;
  let admin: string;
  let auditor: string;
  let portal: string;
  let person: string;

  beforeAll(async () => {
    provider = await startFakeProvider();
    const port = new URL(provider.url).port;
    // The documented default ports plus the fake provider's ephemeral one; PORT 3000 is the gateway's own.
    gw = await startTestGateway(kind, { env: { ADAPTER_ALLOWED_PORTS: `80,443,4100-4199,${port}`, RATE_LIMIT_PER_MINUTE: '100000' } });
    consumer = await gw.token('housing-fund-window');
    admin = await gw.token('platform-admin');
    auditor = await gw.token('audit-office');
    portal = await gw.token('citizen-portal');
    person = personHolding(gw, 'household-registration');
  });
  afterAll(async () => {
    await gw?.close();
    await provider?.close();
  });

  const send = (
    method: 'GET' | 'POST' | 'PUT',
    url: string,
    token: string | null,
    payload?: unknown,
    headers: Record<string, string> = {},
  ) =>
    gw.app.inject({
      method,
      url,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });

  describe('1. NUL and lone surrogates are 400 before the database', () => {
    it.each([
      ['client_id with NUL in JSON', { grant_type: 'client_credentials', client_id: 'a\u0000b', client_secret: 'x' }],
      ['client_id with a lone surrogate in JSON', { grant_type: 'client_credentials', client_id: '\ud800', client_secret: 'x' }],
    ])('token endpoint: %s', async (_, payload) => {
      expectProblem(await send('POST', '/v1/auth/token', null, payload), 400, 'VALIDATION_FAILED', true);
    });

    it('token endpoint: client_id with NUL in a form body and in HTTP Basic', async () => {
      const form = await gw.app.inject({
        method: 'POST',
        url: '/v1/auth/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'grant_type=client_credentials&client_id=a%00b&client_secret=x',
      });
      expectProblem(form, 400, 'VALIDATION_FAILED', true);
      for (const credentials of ['a\u0000b:secret', 'a%00b:secret']) {
        const basic = await gw.app.inject({
          method: 'POST',
          url: '/v1/auth/token',
          headers: { authorization: `Basic ${Buffer.from(credentials).toString('base64')}` },
          payload: { grant_type: 'client_credentials' },
        });
        expectProblem(basic, 400, 'VALIDATION_FAILED', true);
      }
    });

    it('admin: department names, type titles, schema keys and const', async () => {
      expectProblem(
        await send('PUT', '/v1/admin/departments/nul-dept', admin, { name: { zh: '民\u0000政', en: 'x' } }),
        400,
        'VALIDATION_FAILED',
      );
      expectProblem(
        await send('PUT', '/v1/admin/departments/nul-dept', admin, { name: { zh: '民政', en: '\udc00' } }),
        400,
        'VALIDATION_FAILED',
      );
      const type = (over: Record<string, unknown>) => ({
        kind: 'certificate',
        title: 'T',
        provider: 'public-security',
        subjectKind: 'person',
        sharing: 'conditional',
        fields: [{ name: 'a', title: 'A', sensitive: false }],
        schema: { type: 'object', properties: { a: { type: 'string' } } },
        adapter: { kind: 'builtin', name: 'public-security' },
        ...over,
      });
      for (const body of [
        type({ title: 'T\u0000' }),
        type({ title: '\ud83d' }),
        type({ fields: [{ name: 'a', title: 'A\u0000', sensitive: false }] }),
        type({ schema: { type: 'object', properties: { a: { type: 'string' }, 'b\u0000': { type: 'string' } } } }),
        type({ schema: { type: 'object', properties: { a: { const: 'x\u0000' } } } }),
      ]) {
        expectProblem(await send('PUT', '/v1/admin/types/nul-type', admin, body), 400, 'VALIDATION_FAILED');
      }
      const stored = await gw.db.db.selectFrom('catalog_types').select('type').where('type', '=', 'nul-type').executeTakeFirst();
      expect(stored).toBeUndefined();
    });

    it('claim.value with a lone surrogate', async () => {
      const res = await send('POST', '/v1/verifications', consumer, {
        ...lookupBody(person),
        claim: { field: 'name', op: 'eq', value: 'x\ud800' },
      });
      expectProblem(res, 400, 'VALIDATION_FAILED');
    });
  });

  describe('2. leap seconds and year 0000 are 400, never 500 or a broken export', () => {
    it.each(['2016-12-31T23:59:60Z', '2026-06-30T23:59:60Z', '0000-01-01T00:00:00Z', '0001-01-01T00:30:00+01:00', '2026-02-30T00:00:00Z'])(
      '%s in search, export, subject-accesses and grants',
      async (when) => {
        expectProblem(await send('POST', '/v1/audit/search', auditor, { from: when }), 400, 'VALIDATION_FAILED');
        expectProblem(await send('POST', '/v1/audit/search', auditor, { to: when }), 400, 'VALIDATION_FAILED');
        for (const accept of ['text/csv', 'application/x-ndjson']) {
          expectProblem(await send('POST', '/v1/audit/export', auditor, { from: when }, { accept }), 400, 'VALIDATION_FAILED');
        }
        expectProblem(
          await send('POST', '/v1/audit/subject-accesses', portal, { subject: { kind: 'person', id: person }, to: when }),
          400,
          'VALIDATION_FAILED',
        );
        const grant = {
          consumer: 'housing-fund',
          type: 'household-registration',
          purposes: ['housing-fund-withdrawal'],
          fields: ['name'],
          expiresAt: when,
        };
        expectProblem(await send('PUT', '/v1/admin/grants/leap-grant', admin, grant), 400, 'VALIDATION_FAILED');
      },
    );

    it('still accepts the extremes that are valid: year 0001 and 9999, fractions, offsets', async () => {
      const res = await send('POST', '/v1/audit/search', auditor, { from: '0001-01-01T00:00:00Z', to: '9999-12-31T23:59:59.999999+00:00' });
      expect(res.statusCode, res.body).toBe(200);
      const csv = await send('POST', '/v1/audit/export', auditor, { from: '0001-01-01T01:00:00+01:00' }, { accept: 'text/csv' });
      expect(csv.statusCode).toBe(200);
      expect(csv.body.split('\r\n').filter(Boolean).length).toBeGreaterThan(1);
    });
  });

  describe('3. a leading BOM cannot make the chain look tampered', () => {
    it('records a refused request whose members start with U+FEFF, and the chain verifies', async () => {
      const bom = '\ufeff';
      const res = await send('POST', '/v1/lookups', consumer, {
        type: `${bom}household-registration`,
        subject: { kind: 'person', id: `${bom}${person}` },
        purpose: `${bom}housing-fund-withdrawal`,
        caseId: `${bom}HF-1`,
        officer: `${bom}w-1`,
      });
      expectProblem(res, 400, 'VALIDATION_FAILED');
      // A department whose name starts with a BOM (valid text) is stored and read back with it.
      expect(
        (await send('PUT', '/v1/admin/departments/bom-dept', admin, { name: { zh: `${bom}民政`, en: `${bom}Civil` } })).statusCode,
      ).toBe(201);
      const read = await send('GET', '/v1/admin/departments/bom-dept', admin);
      expect(read.json().name).toEqual({ zh: `${bom}民政`, en: `${bom}Civil` });
      expect(await verifyApi(gw, auditor)).toMatchObject({ ok: true });
    });
  });

  describe('4. caseId and officer are checked before anything is stored', () => {
    it.each([
      ['CR/LF and formula text', { caseId: 'HF-1\r\n=HYPERLINK("http://evil")' }],
      ['65 characters', { caseId: 'A'.repeat(65) }],
      ['an empty caseId', { caseId: '' }],
      ['a space', { officer: 'window 7' }],
      ['an at sign', { officer: 'zhang@window' }],
      ['non-ASCII letters', { officer: '张三' }],
    ])('refuses %s with 400 and stores neither in the event', async (_, over) => {
      const res = await send('POST', '/v1/lookups', consumer, lookupBody(person, over));
      expectProblem(res, 400, 'VALIDATION_FAILED');
      const [event] = await eventsFor(gw, requestIdOf(res));
      // The member that broke the rule is not stored; a valid one next to it is.
      expect(event).toMatchObject({
        action: 'lookup',
        outcome: 'denied',
        error_code: 'VALIDATION_FAILED',
        case_id: 'caseId' in over ? null : lookupBody(person).caseId,
        officer: null,
      });
    });

    it('accepts every character the contract allows, 64 of them', async () => {
      const caseId = 'Az09-_./:#'.repeat(6) + 'AbCd';
      expect(caseId).toHaveLength(64);
      const res = await send('POST', '/v1/lookups', consumer, lookupBody(person, { caseId, officer: 'window-7/zhang#1' }));
      expect(res.statusCode, res.body).toBe(200);
      const [event] = await eventsFor(gw, requestIdOf(res));
      expect(event).toMatchObject({ case_id: caseId, officer: 'window-7/zhang#1' });
    });

    it('shows the citizen no free text from a refused request', async () => {
      await send('POST', '/v1/lookups', consumer, lookupBody(person, { caseId: 'X\r\n@SUM(1)', officer: '=cmd|x' }));
      const res = await send('POST', '/v1/audit/subject-accesses', portal, { subject: { kind: 'person', id: person }, limit: 500 });
      expect(res.statusCode).toBe(200);
      for (const access of res.json().accesses as Array<{ caseId: string | null; officer: string | null }>) {
        for (const text of [access.caseId, access.officer]) if (text !== null) expect(text).toMatch(/^[A-Za-z0-9_./:#-]{1,64}$/);
      }
    });
  });

  describe('5. framework errors are problem+json that never echo the path', () => {
    it('answers a malformed percent-encoding with 400', async () => {
      const res = await gw.app.inject({ method: 'GET', url: '/healthz/%E0%A4%A' });
      const body = expectProblem(res, 400, 'VALIDATION_FAILED');
      expect(res.body).not.toContain('%E0');
      expect(body.detail).not.toContain('healthz');
    });

    it('answers an over-long path parameter with 414', async () => {
      const id = `110101199003077${'7'.repeat(300)}`;
      const res = await send('GET', `/v1/admin/departments/${id}`, admin);
      expectProblem(res, 414, 'VALIDATION_FAILED');
      expect(res.body).not.toContain(id);
    });

    it('keeps a sane x-request-id of the caller on these answers', async () => {
      const res = await gw.app.inject({ method: 'GET', url: '/v1/catalog/%zz', headers: { 'x-request-id': 'trace-42' } });
      expect(res.headers['x-request-id']).toBe('trace-42');
      expect(problemOf(res).requestId).toBe('trace-42');
    });
  });

  describe('6. no verification oracle', () => {
    const NAME = '张测试';

    beforeAll(async () => {
      const adapter = { kind: 'http' as const, url: `${provider.url}/answer`, timeoutMs: 2000 };
      const numbered = testType('oracle-register', adapter, { sharing: 'conditional' });
      numbered.fields.push({ name: 'area', title: 'area', sensitive: false }, { name: 'since', title: 'since', sensitive: false });
      const properties = (numbered.schema.properties ?? {}) as Record<string, unknown>;
      numbered.schema = {
        ...numbered.schema,
        properties: { ...properties, area: { type: 'number' }, since: { type: 'string', format: 'date' } },
        required: ['householdNumber', 'name', 'relation'],
      };
      await upsertType(gw.app.db, numbered);
      await upsertGrant(gw.app.db, {
        grantId: 'oracle-verify-only',
        consumer: 'housing-fund',
        type: 'oracle-register',
        purposes: ['housing-fund-withdrawal'],
        fields: ['householdNumber', 'name', 'relation', 'area', 'since'],
        verifyOnly: true,
        expiresAt: null,
      });
      await gw.app.registry.reload();
      provider.set({ behaviour: 'ok', record: { householdNumber: 'HH-1', name: NAME, relation: 'self', area: 88.5, since: '2001-02-03' } });
    });

    /** A verification about `id` through `via` (this suite's gateway unless a replica is named). */
    const claimAbout = (id: string, claim: Record<string, unknown>, via: TestGateway = gw) =>
      via.app.inject({
        method: 'POST',
        url: '/v1/verifications',
        headers: { authorization: `Bearer ${consumer}` },
        payload: {
          type: 'oracle-register',
          subject: { kind: 'person', id },
          purpose: 'housing-fund-withdrawal',
          caseId: 'HF-ORACLE',
          claim,
        },
      });

    it('refuses gte/lte on a text field with 422 UNSUPPORTED_CLAIM, so the binary search dies at its first step', async () => {
      const victim = personHolding(gw, 'household-registration', 1);
      const before = provider.hits;
      // The attack: rebuild the name one code unit at a time with `lte` claims.
      let prefix = '';
      let calls = 0;
      let refused: LightMyRequestResponse | null = null;
      outer: for (let position = 0; position < 4; position++) {
        let low = 0x20;
        let high = 0xffff;
        while (low < high) {
          const mid = Math.floor((low + high) / 2);
          const res = await claimAbout(victim, { field: 'name', op: 'lte', value: prefix + String.fromCharCode(mid) + '\uffff' });
          calls++;
          if (res.statusCode !== 200) {
            refused = res;
            break outer;
          }
          if (res.json().result) high = mid;
          else low = mid + 1;
        }
        prefix += String.fromCharCode(low);
      }
      expect(calls).toBe(1);
      expect(prefix).toBe('');
      expectProblem(refused!, 422, 'UNSUPPORTED_CLAIM');
      expect(provider.hits).toBe(before);
      expect(NAME.startsWith(prefix)).toBe(true);
    });

    it('still orders numbers and dates', async () => {
      const victim = personHolding(gw, 'household-registration', 2);
      expect((await claimAbout(victim, { field: 'area', op: 'gte', value: 80 })).json()).toMatchObject({ result: true });
      expect((await claimAbout(victim, { field: 'since', op: 'lte', value: '2000-01-01' })).json()).toMatchObject({ result: false });
      expectProblem(await claimAbout(victim, { field: 'area', op: 'gte', value: '80' }), 400, 'VALIDATION_FAILED');
    });

    it('answers at most VERIFY_BUDGET_PER_DAY claims per department, subject and type, across replicas', async () => {
      const victim = personHolding(gw, 'household-registration', 3);
      const replica = await startTestGateway(kind, { database: gw.db, demo: false, env: { ADAPTER_ALLOWED_PORTS: '1024-65535' } });
      try {
        for (let i = 0; i < 20; i++) {
          const res = await claimAbout(victim, { field: 'name', op: 'eq', value: `guess-${i}` }, i % 2 === 0 ? gw : replica);
          expect(res.statusCode, res.body).toBe(200);
        }
        for (const via of [gw, replica]) {
          const res = await claimAbout(victim, { field: 'name', op: 'eq', value: NAME }, via);
          expectProblem(res, 429, 'RATE_LIMITED');
          expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
          expect(Number(res.headers['retry-after'])).toBeLessThanOrEqual(86_400);
          const [event] = await eventsFor(gw, requestIdOf(res));
          expect(event).toMatchObject({ action: 'verification', outcome: 'denied', error_code: 'RATE_LIMITED' });
        }
        // Another subject, or another type, has its own budget.
        expect(
          (await claimAbout(personHolding(gw, 'household-registration', 4), { field: 'name', op: 'eq', value: NAME })).statusCode,
        ).toBe(200);
      } finally {
        await replica.close();
      }
    });
  });

  describe('7. adapters reach only ADAPTER_ALLOWED_PORTS', () => {
    const typeWith = (url: string) => ({
      kind: 'certificate',
      title: 'Port probe',
      provider: 'public-security',
      subjectKind: 'person',
      sharing: 'unconditional',
      fields: [{ name: 'name', title: 'name', sensitive: false }],
      schema: { type: 'object', properties: { name: { type: 'string' } } },
      adapter: { kind: 'http', url, timeoutMs: 1000 },
    });

    it.each([
      'http://127.0.0.1:6379/',
      'http://127.0.0.1:5432/',
      'http://127.0.0.1:22/',
      'http://127.0.0.1:0/',
      'http://127.0.0.1:3000/v1/admin/types/x',
      'http://localhost:3000/',
    ])('refuses %s at registration', async (url) => {
      const body = expectProblem(await send('PUT', '/v1/admin/types/port-probe', admin, typeWith(url)), 400, 'VALIDATION_FAILED');
      expect(body.detail).toMatch(/ADAPTER_ALLOWED_PORTS|port 0|own port/);
    });

    it('refuses a stored URL on a closed port at call time, without connecting', async () => {
      await register(gw, { types: [testType('port-stored', { kind: 'http', url: 'http://127.0.0.1:6379/', timeoutMs: 1000 })] });
      const res = await send('POST', '/v1/lookups', consumer, lookupBody(person, { type: 'port-stored' }));
      const body = expectProblem(res, 502, 'PROVIDER_ERROR');
      expect(body.detail).toMatch(/not allowed/);
    });

    it('admits the listed ports', async () => {
      expect((await send('PUT', '/v1/admin/types/port-probe', admin, typeWith('http://127.0.0.1:4101/lookup'))).statusCode).toBe(201);
      expect((await send('PUT', '/v1/admin/types/port-probe', admin, typeWith(`${provider.url}/answer`))).statusCode).toBe(200);
    });
  });

  describe('8. a provider that keeps answering outside its schema opens its circuit', () => {
    it('counts PROVIDER_BAD_RESPONSE as a failure', async () => {
      // The one fake provider whose port is allowed, under a department of its own (the breaker is per department).
      const garbage = provider;
      try {
        const adapter = { kind: 'http' as const, url: `${garbage.url}/answer`, timeoutMs: 2000 };
        const before = garbage.hits;
        // Its own department, so no other test's provider shares the breaker.
        await send('PUT', '/v1/admin/departments/garbage-dept', admin, { name: { zh: '垃圾', en: 'Garbage' } });
        await register(gw, { types: [testType('garbage-register', adapter, { provider: 'garbage-dept' })] });
        garbage.set({ behaviour: 'ok', record: { unexpected: true } });
        const codes: string[] = [];
        for (let i = 0; i < 9; i++)
          codes.push(problemOf(await send('POST', '/v1/lookups', consumer, lookupBody(person, { type: 'garbage-register' }))).code);
        expect(codes.slice(0, 5)).toEqual(Array(5).fill('PROVIDER_BAD_RESPONSE'));
        expect(codes.slice(5)).toEqual(Array(4).fill('PROVIDER_UNAVAILABLE'));
        expect(garbage.hits - before).toBe(5);
      } finally {
        garbage.set({ behaviour: 'ok' });
      }
    });
  });

  it('leaves the gateway ready and the chain intact', async () => {
    expect((await gw.app.inject({ url: '/readyz' })).statusCode).toBe(200);
    expect(await verifyApi(gw, auditor)).toMatchObject({ ok: true });
  });
});

describe('JSON-level leniency kept because RFC 8259 allows it', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway('pglite');
  });
  afterAll(async () => gw?.close());

  it('ignores a UTF-8 BOM before a JSON body (§8.1) and reads 1.0 as the integer 1 (§6)', async () => {
    const auditor = await gw.token('audit-office');
    const res = await gw.app.inject({
      method: 'POST',
      url: '/v1/audit/search',
      headers: { authorization: `Bearer ${auditor}`, 'content-type': 'application/json' },
      payload: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"limit": 1.0}')]),
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().events).toHaveLength(1);
  });
});
