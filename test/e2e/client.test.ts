import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import canonicalize from 'canonicalize';
import { compactVerify, createLocalJWKSet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGatewayClient, type components } from '../../src/client/index.js';
import { DEMO_PROCEDURES } from '../../src/demo/data.js';
import { DATABASE_KINDS } from '../helpers/db.js';
import { startTestGateway, type TestGateway } from '../helpers/app.js';

type CaseMaterial = components['schemas']['CaseMaterial'];
type Fetched = Extract<CaseMaterial, { status: 'fetched' }>;

/** What an integrator does offline with a proof: check the signature, then the record's digest. */
async function verifyProof(proof: string, record: unknown, jwks: components['schemas']['Jwks']) {
  const { payload } = await compactVerify(proof, createLocalJWKSet(jwks as Parameters<typeof createLocalJWKSet>[0]));
  const claims = JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown>;
  const digest = createHash('sha256')
    .update(canonicalize(record) ?? 'null')
    .digest('base64url');
  return { claims, digestMatches: claims.digest === digest };
}

describe.each(DATABASE_KINDS)('the typed client against a gateway on a real port (%s)', (kind) => {
  let gw: TestGateway;
  let baseUrl: string;

  beforeAll(async () => {
    gw = await startTestGateway(kind);
    await gw.app.listen({ host: '127.0.0.1', port: 0 });
    baseUrl = `http://127.0.0.1:${(gw.app.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => gw?.close());

  const windowCredentials = () => gw.credentials.find((c) => c.clientId === 'housing-fund-window')!;

  it('gets a token with client credentials and runs a one-trip case whose proofs verify offline', async () => {
    const anonymous = createGatewayClient({ baseUrl });
    const { clientId, clientSecret } = windowCredentials();
    const issued = await anonymous.POST('/v1/auth/token', {
      body: { grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret },
    });
    expect(issued.response.status).toBe(200);
    expect(issued.data?.token_type).toBe('Bearer');
    const accessToken = issued.data!.access_token;

    const client = createGatewayClient({ baseUrl, accessToken: () => accessToken });
    const applicant = gw.subjects.find((s) => s.kind === 'person')!;
    const procedure = DEMO_PROCEDURES.find((p) => p.code === 'housing-fund-withdrawal')!;
    const { data, error, response } = await client.POST('/v1/cases', {
      body: {
        procedure: procedure.code,
        applicant: { kind: 'person', id: applicant.id },
        caseId: 'HF-E2E-000001',
        officer: 'window-03.li',
      },
    });
    expect(error).toBeUndefined();
    expect(response.status).toBe(201);
    expect(data!.caseId).toBe('HF-E2E-000001');
    expect(data!.materials.map((m) => m.type)).toEqual(procedure.materials);
    expect(data!.materials.map((m) => m.status)).toEqual(procedure.materials.map(() => 'fetched'));
    expect({ fetched: data!.fetched, toSubmit: data!.toSubmit }).toEqual({ fetched: procedure.materials.length, toSubmit: 0 });
    expect(JSON.stringify(data)).not.toContain(applicant.id);

    const jwks = await client.GET('/.well-known/jwks.json');
    for (const material of data!.materials as Fetched[]) {
      const { claims, digestMatches } = await verifyProof(material.proof, material.record, jwks.data!);
      expect(digestMatches, material.type).toBe(true);
      expect(claims).toMatchObject({ lookupId: material.lookupId, type: material.type, purpose: procedure.code, caseId: 'HF-E2E-000001' });
    }
  });

  it('surfaces refusals as typed problems', async () => {
    const anonymous = createGatewayClient({ baseUrl });
    const wrong = await anonymous.POST('/v1/auth/token', {
      body: { grant_type: 'client_credentials', client_id: windowCredentials().clientId, client_secret: 'not-the-secret' },
    });
    expect(wrong.response.status).toBe(401);
    // The token endpoint answers in OAuth terms (RFC 6749 §5.2) next to the problem members.
    expect(wrong.response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(wrong.error).toMatchObject({ code: 'UNAUTHENTICATED', error: 'invalid_client' });

    const client = createGatewayClient({ baseUrl, accessToken: () => gw.token('housing-fund-window') });
    const unknown = await client.POST('/v1/cases', {
      body: { procedure: 'no-such-procedure', applicant: { kind: 'person', id: gw.subjects[0]!.id }, caseId: 'HF-E2E-000002' },
    });
    expect(unknown.response.status).toBe(404);
    expect(unknown.error?.code).toBe('UNKNOWN_PROCEDURE');
  });
});
