import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASE_KINDS } from '../helpers/db.js';
import { problemOf, startTestGateway, type TestGateway } from '../helpers/app.js';

const permitSchema = {
  type: 'object',
  properties: {
    permitNumber: { type: 'string', pattern: '^FP-\\d{6}$' },
    holder: { type: 'string' },
    validUntil: { type: 'string' },
  },
  required: ['permitNumber', 'holder', 'validUntil'],
  additionalProperties: false,
};

const permitType = (overrides: Record<string, unknown> = {}) => ({
  kind: 'certificate',
  title: '消防许可',
  provider: 'public-security',
  subjectKind: 'enterprise',
  sharing: 'conditional',
  fields: [
    { name: 'permitNumber', title: '许可证号', sensitive: false },
    { name: 'holder', title: '持证单位', sensitive: false },
    { name: 'validUntil', title: '有效期至', sensitive: false },
  ],
  schema: permitSchema,
  adapter: { kind: 'builtin', name: 'public-security' },
  ...overrides,
});

describe.each(DATABASE_KINDS)('admin API: types, grants and procedures on %s', (kind) => {
  let gw: TestGateway;
  let adminToken: string;

  beforeAll(async () => {
    gw = await startTestGateway(kind);
    adminToken = await gw.token('platform-admin');
  });
  afterAll(async () => gw?.close());

  const call = (method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, payload?: object, token = adminToken) =>
    gw.app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload ? { payload } : {}) });

  async function eventOf(requestId: string) {
    return gw.db.db.selectFrom('audit_events').selectAll().where('request_id', '=', requestId).executeTakeFirstOrThrow();
  }

  async function expectRefused(res: Awaited<ReturnType<typeof call>>, status: number, code: string, detail: RegExp) {
    expect(res.statusCode).toBe(status);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(problemOf(res).code).toBe(code);
    expect(problemOf(res).detail).toMatch(detail);
    // The refused change is itself on the record, and nothing was written.
    expect(await eventOf(problemOf(res).requestId)).toMatchObject({
      action: 'admin.change',
      outcome: 'denied',
      error_code: code,
      client_id: 'platform-admin',
    });
  }

  it('registers a type (201), replaces it (200), lists it and audits both changes', async () => {
    const created = await call('PUT', '/v1/admin/types/fire-permit', permitType());
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({
      type: 'fire-permit',
      provider: 'public-security',
      adapter: { kind: 'builtin', name: 'public-security' },
    });
    const replaced = await call('PUT', '/v1/admin/types/fire-permit', permitType({ title: '消防安全许可' }));
    expect(replaced.statusCode).toBe(200);
    expect(replaced.json().title).toBe('消防安全许可');

    expect((await eventOf(created.headers['x-request-id'] as string)).detail).toEqual({
      resource: 'type',
      key: 'fire-permit',
      change: 'created',
    });
    const second = await eventOf(replaced.headers['x-request-id'] as string);
    expect(second).toMatchObject({
      client_id: 'platform-admin',
      type: 'fire-permit',
      detail: { resource: 'type', key: 'fire-permit', change: 'updated' },
    });

    const one = await call('GET', '/v1/admin/types/fire-permit');
    expect(one.json().schema).toEqual(permitSchema);
    const all = (await call('GET', '/v1/admin/types')).json().types.map((t: { type: string }) => t.type);
    expect(all).toEqual(expect.arrayContaining(['fire-permit', 'criminal-record']));
    expect((await gw.app.registry.get()).types.get('fire-permit')?.title).toBe('消防安全许可');
  });

  it('refuses a schema that does not compile with 400 VALIDATION_FAILED and ajv’s message', async () => {
    const broken = { ...permitSchema, properties: { ...permitSchema.properties, holder: { type: 'strnig' } } };
    await expectRefused(
      await call('PUT', '/v1/admin/types/broken-permit', permitType({ schema: broken })),
      400,
      'VALIDATION_FAILED',
      /does not compile: schema is invalid: .*type/,
    );
    const unknownKeyword = { ...permitSchema, propertees: {} };
    await expectRefused(
      await call('PUT', '/v1/admin/types/broken-permit', permitType({ schema: unknownKeyword })),
      400,
      'VALIDATION_FAILED',
      /unknown keyword: "propertees"/,
    );
    expect((await call('GET', '/v1/admin/types/broken-permit')).statusCode).toBe(404);
  });

  it('refuses fields that are not properties of the schema, and repeated fields', async () => {
    const fields = [...permitType().fields, { name: 'inspector', title: '检查员', sensitive: true }];
    await expectRefused(await call('PUT', '/v1/admin/types/odd-permit', permitType({ fields })), 400, 'VALIDATION_FAILED', /inspector/);
    const twice = [...permitType().fields, { name: 'holder', title: '持证人', sensitive: false }];
    await expectRefused(
      await call('PUT', '/v1/admin/types/odd-permit', permitType({ fields: twice })),
      400,
      'VALIDATION_FAILED',
      /holder more than once/,
    );
  });

  it('refuses an unknown provider department with 409 CONFLICT', async () => {
    await expectRefused(
      await call('PUT', '/v1/admin/types/fire-permit', permitType({ provider: 'fire-brigade' })),
      409,
      'CONFLICT',
      /"fire-brigade" is not a registered department/,
    );
  });

  it.each([
    ['a host outside ADAPTER_ALLOWED_HOSTS', 'http://10.20.0.15:8443/onetrip', /10\.20\.0\.15 is not in ADAPTER_ALLOWED_HOSTS/],
    ['a hostname outside the list', 'https://provider.example.org/lookup', /provider\.example\.org is not in ADAPTER_ALLOWED_HOSTS/],
    ['the cloud metadata address', 'http://169.254.169.254/latest/meta-data', /link-local or cloud metadata/],
    ['a link-local IPv6 address', 'http://[fe80::1]/lookup', /link-local or cloud metadata/],
    ['a metadata hostname', 'http://metadata.google.internal/computeMetadata/v1', /cloud metadata hostname/],
    ['a URL with credentials', 'http://user:pw@127.0.0.1:4101/lookup', /user name or password/],
  ])('refuses an http adapter to %s with 400 VALIDATION_FAILED', async (_label, url, reason) => {
    const res = await call('PUT', '/v1/admin/types/fire-permit', permitType({ adapter: { kind: 'http', url, timeoutMs: 3000 } }));
    await expectRefused(res, 400, 'VALIDATION_FAILED', reason);
    expect(problemOf(res).detail).toMatch(/^body\/adapter\/url is refused/);
  });

  it('refuses a builtin adapter that no in-process department serves', async () => {
    await expectRefused(
      await call('PUT', '/v1/admin/types/fire-permit', permitType({ adapter: { kind: 'builtin', name: 'fire-brigade' } })),
      400,
      'VALIDATION_FAILED',
      /no builtin provider "fire-brigade"/,
    );
  });

  it('puts, lists and deletes grants, refusing ones that name what is not registered with 409 CONFLICT', async () => {
    const grant = {
      consumer: 'market-regulation',
      type: 'business-licence',
      purposes: ['enterprise-establishment'],
      fields: ['name', 'legalRepresentativePhone'],
    };
    const created = await call('PUT', '/v1/admin/grants/mr-business-licence', grant);
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ grantId: 'mr-business-licence', verifyOnly: false, expiresAt: null });
    const replaced = await call('PUT', '/v1/admin/grants/mr-business-licence', {
      ...grant,
      verifyOnly: true,
      expiresAt: '2030-01-01T08:00:00+08:00',
    });
    expect(replaced.statusCode).toBe(200);
    expect(replaced.json()).toMatchObject({ verifyOnly: true, expiresAt: '2030-01-01T00:00:00.000Z' });
    expect((await call('GET', '/v1/admin/grants')).json().grants.map((g: { grantId: string }) => g.grantId)).toContain(
      'mr-business-licence',
    );

    for (const [body, detail] of [
      [{ ...grant, consumer: 'fire-brigade' }, /consumer "fire-brigade"/],
      [{ ...grant, type: 'dragon-licence' }, /type "dragon-licence"/],
      [{ ...grant, purposes: ['world-domination'] }, /"world-domination" are not registered procedures/],
      [{ ...grant, fields: ['name', 'shoeSize'] }, /"shoeSize" are not fields of business-licence/],
    ] as const) {
      await expectRefused(await call('PUT', '/v1/admin/grants/mr-business-licence-2', body), 409, 'CONFLICT', detail);
    }
    await expectRefused(
      await call('PUT', '/v1/admin/grants/mr-bad', { ...grant, expiresAt: 'next tuesday' }),
      400,
      'VALIDATION_FAILED',
      /expiresAt/,
    );

    const deleted = await call('DELETE', '/v1/admin/grants/mr-business-licence');
    expect(deleted.statusCode).toBe(204);
    expect((await eventOf(deleted.headers['x-request-id'] as string)).detail).toEqual({
      resource: 'grant',
      key: 'mr-business-licence',
      change: 'deleted',
    });
    const again = await call('DELETE', '/v1/admin/grants/mr-business-licence');
    expect(again.statusCode).toBe(404);
    expect(problemOf(again).code).toBe('NOT_FOUND');
  });

  it('stops serving under a grant once it has expired (NOT_GRANTED), and at once for one put already expired', async () => {
    const token = await gw.token('taxation-window');
    const person = gw.subjects.find((s) => s.kind === 'person' && s.holds.includes('household-registration'))!.id;
    const lookup = () =>
      gw.app.inject({
        method: 'POST',
        url: '/v1/lookups',
        headers: { authorization: `Bearer ${token}` },
        payload: {
          type: 'household-registration',
          subject: { kind: 'person', id: person },
          purpose: 'special-additional-deduction',
          caseId: 'TX-2026-000001',
        },
      });
    const grant = {
      consumer: 'taxation',
      type: 'household-registration',
      purposes: ['special-additional-deduction'],
      fields: ['name', 'registrationNumber'],
    };

    const expiresAt = new Date(Date.now() + 1500).toISOString();
    expect((await call('PUT', '/v1/admin/grants/tx-household', { ...grant, expiresAt })).statusCode).toBe(201);
    const before = await lookup();
    expect(before.statusCode).toBe(200);
    expect(Object.keys(before.json().record).sort()).toEqual(['name', 'registrationNumber']);

    await new Promise((r) => setTimeout(r, Date.parse(expiresAt) - Date.now() + 50));
    const after = await lookup();
    expect(after.statusCode).toBe(403);
    expect(problemOf(after).code).toBe('NOT_GRANTED');

    expect(
      (await call('PUT', '/v1/admin/grants/tx-household', { ...grant, expiresAt: new Date(Date.now() + 60_000).toISOString() })).statusCode,
    ).toBe(200);
    expect((await lookup()).statusCode).toBe(200);
    expect(
      (await call('PUT', '/v1/admin/grants/tx-household', { ...grant, expiresAt: new Date(Date.now() - 60_000).toISOString() })).statusCode,
    ).toBe(200);
    const expired = await lookup();
    expect(expired.statusCode).toBe(403);
    expect(problemOf(expired).code).toBe('NOT_GRANTED');
  });

  it('puts procedures whose materials are registered types, and refuses others with 409 CONFLICT', async () => {
    const created = await call('PUT', '/v1/admin/procedures/business-relocation', {
      title: '企业迁移',
      materials: ['business-licence', 'tax-clearance'],
    });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toEqual({ code: 'business-relocation', title: '企业迁移', materials: ['business-licence', 'tax-clearance'] });
    const replaced = await call('PUT', '/v1/admin/procedures/business-relocation', {
      title: '企业迁移登记',
      materials: ['business-licence'],
    });
    expect(replaced.statusCode).toBe(200);
    expect((await eventOf(replaced.headers['x-request-id'] as string)).detail).toEqual({
      resource: 'procedure',
      key: 'business-relocation',
      change: 'updated',
    });
    const list = (await call('GET', '/v1/admin/procedures')).json().procedures;
    expect(list).toContainEqual({ code: 'business-relocation', title: '企业迁移登记', materials: ['business-licence'] });
    await expectRefused(
      await call('PUT', '/v1/admin/procedures/business-relocation', { title: '企业迁移', materials: ['dragon-licence'] }),
      409,
      'CONFLICT',
      /"dragon-licence"/,
    );
  });

  it('writes every successful change as admin.change by platform-admin', async () => {
    const events = await gw.db.db
      .selectFrom('audit_events')
      .selectAll()
      .where('action', '=', 'admin.change')
      .where('outcome', '=', 'ok')
      .execute();
    expect(events.length).toBeGreaterThanOrEqual(8);
    for (const e of events) {
      expect(e.client_id).toBe('platform-admin');
      expect(e.detail).toMatchObject({
        resource: expect.any(String),
        key: expect.any(String),
        change: expect.stringMatching(/^(created|updated|deleted|revoked)$/),
      });
    }
  });
});
