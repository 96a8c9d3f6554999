import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, UnsecuredJWT, createLocalJWKSet, generateKeyPair } from 'jose';
import { startProviderServer } from '../../src/adapters/provider-server.js';
import type { ProviderServerOptions } from '../../src/adapters/provider-server.js';
import type { ProviderRequest } from '../../src/adapters/types.js';
import { createTestSigner } from '../helpers/fake-provider.js';
import type { TestSigner } from '../helpers/fake-provider.js';

const DEPARTMENT = 'public-security';
const lookup: ProviderRequest = {
  type: 'household-registration',
  subject: { kind: 'person', id: '11010519491231002X' },
  fields: ['householdNumber'],
  purpose: 'birth-registration',
  caseId: 'CASE-2025-000042',
  requestId: 'req-1',
};

let signer: TestSigner;
const cleanups: Array<() => Promise<void>> = [];
beforeAll(async () => {
  signer = await createTestSigner();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function server(overrides: Partial<ProviderServerOptions> = {}): Promise<string> {
  const started = await startProviderServer({
    department: DEPARTMENT,
    issuer: signer.issuer,
    jwks: () => Promise.resolve(signer.jwks),
    answer: (r) => (r.subject.id === lookup.subject.id ? { found: true, record: { householdNumber: 'HH-1' } } : { found: false }),
    ...overrides,
  });
  cleanups.push(() => started.close());
  return started.url;
}

async function post(url: string, init: { token?: string | null; body?: string; contentType?: string; requestId?: string } = {}) {
  const token = init.token === undefined ? await signer.signToken(DEPARTMENT) : init.token;
  const headers: Record<string, string> = { 'content-type': init.contentType ?? 'application/json' };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (init.requestId !== undefined) headers['x-request-id'] = init.requestId;
  const res = await fetch(url, { method: 'POST', headers, body: init.body ?? JSON.stringify(lookup) });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

describe('startProviderServer', () => {
  it('answers POST / and POST /lookup for a valid gateway token', async () => {
    const url = await server();
    for (const path of ['/', '/lookup']) {
      const res = await post(url + path, { requestId: 'req-9' });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ found: true, record: { householdNumber: 'HH-1' } });
      expect(res.headers.get('x-request-id')).toBe('req-9');
    }
    const other = await post(url, { body: JSON.stringify({ ...lookup, subject: { kind: 'person', id: '110105194912310021' } }) });
    expect(other.body).toEqual({ found: false });
  });

  it('takes its keys from a JWKS URL or a jose key resolver', async () => {
    const jwksServer = createServer((_, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(signer.jwks)),
    );
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => jwksServer.close(() => resolve())));
    const jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/.well-known/jwks.json`;
    expect((await post(await server({ jwks: undefined, jwksUrl }))).status).toBe(200);
    expect((await post(await server({ jwks: createLocalJWKSet(signer.jwks) }))).status).toBe(200);
  });

  it.each<[string, () => Promise<string | null>]>([
    ['no token', () => Promise.resolve(null)],
    ['a token for another department', () => signer.signToken('civil-affairs')],
    ['garbage', () => Promise.resolve('not.a.jwt')],
    [
      'an unsigned token',
      () => Promise.resolve(new UnsecuredJWT({}).setIssuer(signer.issuer).setAudience(DEPARTMENT).setExpirationTime('1m').encode()),
    ],
    ['another issuer', () => signer.signToken(DEPARTMENT, { issuer: 'https://impostor.test' })],
    ['an expired token', () => signer.signToken(DEPARTMENT, { expiresAt: Math.floor(Date.now() / 1000) - 60 })],
    [
      'another key',
      async () => {
        const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
        return new SignJWT({})
          .setProtectedHeader({ alg: 'EdDSA', kid: 'test-gateway-key' })
          .setIssuer(signer.issuer)
          .setAudience(DEPARTMENT)
          .setExpirationTime('1m')
          .sign(privateKey);
      },
    ],
    [
      'HS256 (algorithm not pinned)',
      () => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuer(signer.issuer).setAudience(DEPARTMENT).sign(new Uint8Array(32)),
    ],
  ])('refuses %s with 401 problem+json', async (_, token) => {
    const res = await post(await server(), { token: await token() });
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(res.body).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
  });

  it.each([
    ['not JSON', { body: '{"type":' }],
    ['not a ProviderRequest', { body: JSON.stringify({ type: 'x' }) }],
    ['a bad subject kind', { body: JSON.stringify({ ...lookup, subject: { kind: 'robot', id: 'x' } }) }],
    ['not application/json', { contentType: 'text/plain' }],
    ['too large', { body: JSON.stringify({ ...lookup, padding: 'x'.repeat(70_000) }) }],
  ])('answers 400 problem+json to a body that is %s', async (_, init) => {
    const res = await post(await server(), init);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' });
  });

  it('answers 404 elsewhere and 500 (without details) when answer() fails', async () => {
    const url = await server({ answer: () => Promise.reject(new Error('database password is hunter2')) });
    expect((await fetch(url)).status).toBe(404);
    expect((await post(`${url}/other`)).status).toBe(404);
    const failed = await post(url);
    expect(failed.status).toBe(500);
    expect(JSON.stringify(failed.body)).not.toContain('hunter2');
  });
});
