import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grantView } from '../../src/registry/catalog-routes.js';
import type { Grant, TypeDef } from '../../src/registry/model.js';
import { DATABASE_KINDS } from '../helpers/db.js';
import { problemOf, startTestGateway, type TestGateway } from '../helpers/app.js';

interface Entry {
  type: string;
  sharing: string;
  fields: { name: string; sensitive: boolean }[];
  grant: { purposes: string[]; fields: string[]; verifyOnly: boolean; expiresAt: string | null } | null;
}

describe.each(DATABASE_KINDS)('GET /v1/catalog on %s', (kind) => {
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startTestGateway(kind);
  });
  afterAll(async () => gw?.close());

  const tokens = new Map<string, Promise<string>>();
  const get = async (url: string, clientId: string) => {
    if (!tokens.has(clientId)) tokens.set(clientId, gw.token(clientId));
    return gw.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${await tokens.get(clientId)}` } });
  };

  it('lists every servable type with the caller’s own grant, and hides `none` types', async () => {
    const res = await get('/v1/catalog', 'civil-affairs-window');
    expect(res.statusCode).toBe(200);
    const types = res.json().types as Entry[];
    const byType = new Map(types.map((t) => [t.type, t]));
    expect(byType.has('criminal-record')).toBe(false);
    expect(types.every((t) => t.sharing !== 'none')).toBe(true);
    expect([...byType.keys()]).toEqual(expect.arrayContaining(['household-registration', 'business-licence', 'degree-certificate']));

    expect(byType.get('marriage-registration')!.grant).toEqual({
      purposes: ['marriage-registration-application'],
      fields: ['certificateNumber', 'status', 'registeredAt', 'issuedBy'],
      verifyOnly: false,
      expiresAt: null,
    });
    expect(byType.get('business-licence')!.grant).toBeNull();
    expect(byType.get('business-licence')!.fields.find((f) => f.name === 'legalRepresentativePhone')!.sensitive).toBe(true);
    // No department sees another's grant.
    expect(byType.get('real-estate-title')!.grant).toBeNull();
  });

  it('shows a verify-only grant as such and an expired grant as none', async () => {
    const taxation = new Map(((await get('/v1/catalog', 'taxation-window')).json().types as Entry[]).map((t) => [t.type, t]));
    expect(taxation.get('marriage-registration')!.grant).toMatchObject({ verifyOnly: true, fields: ['status'] });
    const hr = new Map(((await get('/v1/catalog', 'human-resources-window')).json().types as Entry[]).map((t) => [t.type, t]));
    expect(hr.get('real-estate-title')!.grant).toBeNull();
    expect(hr.get('social-insurance-contributions')!.grant!.fields).toEqual(['month', 'employer', 'pension', 'medical']);
  });

  it('gives one type with its record schema and the caller’s grant', async () => {
    const res = await get('/v1/catalog/household-registration', 'housing-fund-window');
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({
      type: 'household-registration',
      provider: 'public-security',
      subjectKind: 'person',
      sharing: 'conditional',
    });
    expect(body.grant.purposes).toEqual(['housing-fund-withdrawal']);
    expect(body.schema).toMatchObject({ type: 'object', additionalProperties: false });
    expect(Object.keys(body.schema.properties)).toContain('registrationNumber');
  });

  it('answers a `none` type and an unknown type alike with 404 UNKNOWN_TYPE, a bad code with 400', async () => {
    for (const type of ['criminal-record', 'dragon-licence']) {
      const res = await get(`/v1/catalog/${type}`, 'housing-fund-window');
      expect(res.statusCode).toBe(404);
      expect(problemOf(res).code).toBe('UNKNOWN_TYPE');
    }
    const bad = await get('/v1/catalog/Not_A_Code', 'housing-fund-window');
    expect(bad.statusCode).toBe(400);
    expect(problemOf(bad).code).toBe('VALIDATION_FAILED');
  });

  it('is for consumers only: 403 FORBIDDEN for others, 401 without a token', async () => {
    for (const clientId of ['audit-office', 'citizen-portal', 'platform-admin']) {
      const res = await get('/v1/catalog', clientId);
      expect(res.statusCode).toBe(403);
      expect(problemOf(res).code).toBe('FORBIDDEN');
    }
    expect((await gw.app.inject({ method: 'GET', url: '/v1/catalog/household-registration' })).statusCode).toBe(401);
  });
});

describe('grantView', () => {
  const type = { type: 't', fields: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] } as TypeDef;
  const grant = (over: Partial<Grant>): Grant => ({
    grantId: 'g',
    consumer: 'x',
    type: 't',
    purposes: ['p'],
    fields: ['a'],
    verifyOnly: false,
    expiresAt: null,
    ...over,
  });
  const now = new Date('2026-01-01T00:00:00Z');

  it('merges live grants: union of purposes and fields, verify-only only if all are, latest expiry', () => {
    const view = grantView(
      type,
      [
        grant({ purposes: ['p'], fields: ['c'], verifyOnly: true, expiresAt: '2026-06-01T00:00:00.000Z' }),
        grant({ purposes: ['q'], fields: ['a', 'gone'], expiresAt: '2027-01-01T00:00:00.000Z' }),
        grant({ purposes: ['r'], fields: ['b'], expiresAt: '2025-01-01T00:00:00.000Z' }),
      ],
      now,
    );
    expect(view).toEqual({ purposes: ['p', 'q'], fields: ['a', 'c'], verifyOnly: false, expiresAt: '2027-01-01T00:00:00.000Z' });
  });

  it('is null without a live grant, and never expires when one grant does not', () => {
    expect(grantView(type, [grant({ expiresAt: '2025-12-31T23:59:59.000Z' })], now)).toBeNull();
    expect(grantView(type, [grant({ expiresAt: '2026-06-01T00:00:00.000Z' }), grant({})], now)!.expiresAt).toBeNull();
  });
});
