/**
 * Issue 12: each access token is verified once and then served from a bounded cache, which must
 * never let through what full verification would refuse: an expired token, a token whose key is
 * gone, or a revoked client's token (revocation is still seen within REVOCATION_CHECK_MS).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProviderTokenCache, VerifiedTokenCache } from '../../src/auth/token-cache.js';
import { revokeClient } from '../../src/registry/repository.js';
import { problemOf, startTestGateway, type TestGateway } from '../helpers/app.js';
import { DATABASE_KINDS } from '../helpers/db.js';
import { signedByGateway, windowClaims } from '../helpers/tokens.js';

const entry = (expiresAt: number, kid = 'k1') => ({ claims: { sub: 'c' }, expiresAt, kid });
const known = () => true;

describe('VerifiedTokenCache', () => {
  it('holds a token until its exp, never after', () => {
    const cache = new VerifiedTokenCache(10);
    cache.set('t', entry(1000));
    expect(cache.get('t', 999, known)?.claims).toEqual({ sub: 'c' });
    expect(cache.get('t', 1000, known)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('drops a token whose signing key is no longer in the key ring', () => {
    const cache = new VerifiedTokenCache(10);
    cache.set('t', entry(1000, 'retired'));
    expect(cache.get('t', 0, (kid) => kid !== 'retired')).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('stays within its bound, evicting the least recently used', () => {
    const cache = new VerifiedTokenCache(3);
    for (const t of ['a', 'b', 'c']) cache.set(t, entry(1000));
    expect(cache.get('a', 0, known)).toBeDefined(); // a is now the most recently used
    cache.set('d', entry(1000));
    expect(cache.size).toBe(3);
    expect(cache.get('b', 0, known)).toBeUndefined();
    expect(cache.get('a', 0, known)).toBeDefined();
    expect(cache.get('d', 0, known)).toBeDefined();
  });
});

describe('ProviderTokenCache', () => {
  it('reuses a provider token for half its life, per audience and signing key', () => {
    const cache = new ProviderTokenCache(60);
    let minted = 0;
    const mint = () => `token-${++minted}`;
    expect(cache.get('public-security', 'k1', 0, mint)).toBe('token-1');
    expect(cache.get('public-security', 'k1', 29_999, mint)).toBe('token-1');
    expect(cache.get('taxation', 'k1', 1, mint)).toBe('token-2');
    expect(cache.get('public-security', 'k1', 30_000, mint)).toBe('token-3');
    expect(cache.get('public-security', 'k2', 30_001, mint)).toBe('token-4');
  });
});

describe.each(DATABASE_KINDS)('verified-token cache in the gateway on %s', (kind) => {
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startTestGateway(kind, { env: { REVOCATION_CHECK_MS: '200' } });
  });
  afterAll(async () => gw?.close());

  const call = (token: string) => gw.app.inject({ url: '/v1/procedures', headers: { authorization: `Bearer ${token}` } });
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('refuses a cached token once its exp has passed', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await signedByGateway(gw, windowClaims(gw, { iat: now, exp: now + 2 }));
    expect((await call(token)).statusCode).toBe(200);
    expect((await call(token)).statusCode).toBe(200);
    await sleep((now + 2) * 1000 - Date.now() + 50);
    const res = await call(token);
    expect(res.statusCode).toBe(401);
    expect(problemOf(res).code).toBe('UNAUTHENTICATED');
    expect(problemOf(res).detail).toBe('the token has expired');
  });

  it('sees a revocation within REVOCATION_CHECK_MS although the token is cached', async () => {
    const token = await gw.token('market-regulation-window');
    expect((await call(token)).statusCode).toBe(200);
    expect((await call(token)).statusCode).toBe(200);
    expect(await revokeClient(gw.app.db, 'market-regulation-window')).toBe(true);
    await sleep(250);
    const res = await call(token);
    expect(res.statusCode).toBe(401);
    expect(problemOf(res).code).toBe('UNAUTHENTICATED');
  });

  it('never serves a token that differs from a cached one, even by its signature', async () => {
    const token = await gw.token('taxation-window');
    expect((await call(token)).statusCode).toBe(200);
    const res = await call(`${token.slice(0, -4)}${token.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`);
    expect(res.statusCode).toBe(401);
  });
});
