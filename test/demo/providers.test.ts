import { createConnection } from 'node:net';
import { decodeJwt, type FlattenedJWSInput, type JWSHeaderParameters, type JWTVerifyGetKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_DEPARTMENTS, createDemoDataset } from '../../src/demo/data.js';
import { DEMO_PROVIDER_BASE_PORT, demoProviderPort, startDemoProviders, type DemoProviders } from '../../src/demo/providers.js';
import { DATABASE_KINDS } from '../helpers/db.js';
import { problemOf, startTestGateway, type TestGateway } from '../helpers/app.js';
import { createTestSigner, type TestSigner } from '../helpers/fake-provider.js';

const dataset = createDemoDataset();
const person = dataset.people.find(
  (p) => p.holds.includes('household-registration') && p.holds.includes('social-insurance-contributions'),
)!;

function refused(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = createConnection({ host: hostname, port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

describe('startDemoProviders', () => {
  let signer: TestSigner;
  let providers: DemoProviders;

  beforeAll(async () => {
    signer = await createTestSigner();
    providers = await startDemoProviders({ issuer: signer.issuer, jwks: () => Promise.resolve(signer.jwks), dataset });
  });
  afterAll(async () => providers?.close());

  async function ask(department: string, body: Record<string, unknown>, audience = department) {
    const res = await fetch(`${providers.urls.get(department)}/lookup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await signer.signToken(audience)}` },
      body: JSON.stringify({ subject: { kind: 'person', id: person.id }, purpose: 'p', caseId: 'C-1', requestId: 'r-1', ...body }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  it('serves every demo department on its own URL', () => {
    expect([...providers.urls.keys()]).toEqual(DEMO_DEPARTMENTS.map((d) => d.code));
    expect(new Set(providers.urls.values()).size).toBe(DEMO_DEPARTMENTS.length);
  });

  it('answers only the fields asked for, for certificates and for the rows of record types', async () => {
    const certificate = await ask('public-security', { type: 'household-registration', fields: ['name', 'registrationNumber'] });
    expect(certificate.status).toBe(200);
    expect(certificate.body).toEqual({
      found: true,
      record: { name: expect.any(String), registrationNumber: expect.stringMatching(/^\d{9}$/) },
    });

    const rows = await ask('human-resources', { type: 'social-insurance-contributions', fields: ['month'] });
    const record = rows.body.record as { rows: Record<string, unknown>[] };
    expect(record.rows.length).toBeGreaterThan(0);
    expect(record.rows.every((r) => Object.keys(r).join() === 'month')).toBe(true);
  });

  it('holds nothing for another department’s types or an unknown subject', async () => {
    expect((await ask('public-security', { type: 'marriage-registration', fields: ['status'] })).body).toEqual({ found: false });
    expect(
      (
        await ask('public-security', {
          type: 'household-registration',
          fields: ['name'],
          subject: { kind: 'person', id: '11010519491231002X' },
        })
      ).body,
    ).toEqual({ found: false });
  });

  it('refuses a gateway token meant for another department', async () => {
    const res = await ask('public-security', { type: 'household-registration', fields: ['name'] }, 'civil-affairs');
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('UNAUTHENTICATED');
  });

  it('lays the fixed ports out in department order', () => {
    expect(demoProviderPort('public-security')).toBe(DEMO_PROVIDER_BASE_PORT);
    expect(demoProviderPort(DEMO_DEPARTMENTS.at(-1)!.code, 5000)).toBe(5000 + DEMO_DEPARTMENTS.length - 1);
    expect(() => demoProviderPort('fire-brigade')).toThrow(/not a demo department/);
  });

  it('stops listening on close', async () => {
    const own = await startDemoProviders({ issuer: signer.issuer, jwks: () => Promise.resolve(signer.jwks) });
    const url = own.urls.get('education')!;
    expect(await refused(url)).toBe(false);
    await own.close();
    expect(await refused(url)).toBe(true);
  });
});

describe.each(DATABASE_KINDS)('a type served by a demo department over the http adapter on %s', (kind) => {
  let gw: TestGateway;
  let providers: DemoProviders;
  let adminToken: string;
  const seenClaims: Record<string, unknown>[] = [];

  beforeAll(async () => {
    gw = await startTestGateway(kind);
    // The provider verifies with the gateway's own JWKS; the resolver also notes each token's claims.
    const jwks = (async (_header: JWSHeaderParameters, token: FlattenedJWSInput) => {
      seenClaims.push(decodeJwt(`${String(token.protected)}.${String(token.payload)}.`));
      return gw.app.keyring.jwks();
    }) as unknown as JWTVerifyGetKey;
    providers = await startDemoProviders({ issuer: gw.app.config.publicUrl, jwks });
    adminToken = await gw.token('platform-admin');
  });
  afterAll(async () => {
    await providers?.close();
    await gw?.close();
  });

  async function pointAt(department: string) {
    const current = (
      await gw.app.inject({
        method: 'GET',
        url: '/v1/admin/types/household-registration',
        headers: { authorization: `Bearer ${adminToken}` },
      })
    ).json();
    const { type: _type, createdAt: _c, updatedAt: _u, ...definition } = current;
    const adapter = { kind: 'http', url: `${providers.urls.get(department)}/lookup`, timeoutMs: 3000 };
    const res = await gw.app.inject({
      method: 'PUT',
      url: '/v1/admin/types/household-registration',
      headers: { authorization: `Bearer ${adminToken}` },
      payload: { ...definition, adapter },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().adapter).toEqual(adapter);
  }

  const lookup = async () =>
    gw.app.inject({
      method: 'POST',
      url: '/v1/lookups',
      headers: { authorization: `Bearer ${await gw.token('housing-fund-window')}` },
      payload: {
        type: 'household-registration',
        subject: { kind: 'person', id: person.id },
        purpose: 'housing-fund-withdrawal',
        caseId: 'HF-2026-000042',
      },
    });

  it('fetches the record from the provider server, which verified a gateway token for its own department', async () => {
    await pointAt('public-security');
    seenClaims.length = 0;
    const res = await lookup();
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.provider).toBe('public-security');
    expect(Object.keys(body.record).sort()).toEqual([
      'address',
      'birthDate',
      'gender',
      'householder',
      'name',
      'registrationNumber',
      'relationToHouseholder',
    ]);
    expect(body.record.name).toBe(dataset.record('household-registration', person.id)!.name);

    expect(seenClaims).toHaveLength(1);
    expect(seenClaims[0]).toMatchObject({ aud: 'public-security', iss: gw.app.config.publicUrl, sub: 'onetrip-gateway' });
    const event = await gw.db.db.selectFrom('audit_events').selectAll().where('id', '=', body.lookupId).executeTakeFirstOrThrow();
    expect(event).toMatchObject({ action: 'lookup', outcome: 'ok', provider: 'public-security' });
  });

  it('fails with 502 PROVIDER_ERROR when the URL reaches a department the token is not meant for', async () => {
    await pointAt('civil-affairs');
    const res = await lookup();
    expect(res.statusCode).toBe(502);
    expect(problemOf(res).code).toBe('PROVIDER_ERROR');
    await pointAt('public-security');
  });
});
