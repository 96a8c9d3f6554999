/**
 * RFC 8725 (JWT Best Current Practices): every way of bending a token is refused with
 * 401 UNAUTHENTICATED. Each bent token differs from a control token that is accepted in
 * exactly one respect, so a refusal is known to come from that respect.
 */
import { createHmac, generateKeyPairSync, sign } from 'node:crypto';
import { SignJWT, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revokeClient } from '../../src/registry/repository.js';
import { DATABASE_KINDS } from '../helpers/db.js';
import { problemOf, startTestGateway, type TestGateway } from '../helpers/app.js';
import { signedByGateway, windowClaims } from '../helpers/tokens.js';

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

describe.each(DATABASE_KINDS)('access-token hardening on %s', (kind) => {
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startTestGateway(kind);
  });
  afterAll(async () => gw?.close());

  const claims = (extra: JWTPayload = {}) => windowClaims(gw, extra);
  const signed = (payload: JWTPayload, kid?: string) => signedByGateway(gw, payload, kid);

  const call = (token: string) => gw.app.inject({ url: '/v1/procedures', headers: { authorization: `Bearer ${token}` } });

  async function expectRefused(token: string) {
    const res = await call(token);
    expect(res.statusCode).toBe(401);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(problemOf(res).code).toBe('UNAUTHENTICATED');
  }

  it('accepts the control token (and one from the token endpoint)', async () => {
    expect((await call(await signed(claims()))).statusCode).toBe(200);
    expect((await call(await gw.token('taxation-window'))).statusCode).toBe(200);
  });

  it('refuses alg none', async () => {
    const token = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims())}.`;
    await expectRefused(token);
  });

  it('refuses HS256 signed with the gateway public key as the HMAC secret (algorithm confusion)', async () => {
    const key = gw.app.keyring.current;
    const input = `${b64({ alg: 'HS256', typ: 'JWT', kid: key.kid })}.${b64(claims())}`;
    for (const secret of [key.publicPem, JSON.stringify(key.publicJwk)]) {
      const mac = createHmac('sha256', secret).update(input).digest('base64url');
      await expectRefused(`${input}.${mac}`);
    }
  });

  it('refuses a token signed by a foreign Ed25519 key that claims the gateway kid', async () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const token = await new SignJWT(claims()).setProtectedHeader({ alg: 'EdDSA', kid: gw.app.keyring.current.kid }).sign(privateKey);
    await expectRefused(token);
  });

  it('refuses a tampered payload', async () => {
    const [header, , signature] = (await signed(claims())).split('.');
    await expectRefused(`${header}.${b64(claims({ roles: ['consumer', 'admin'] }))}.${signature}`);
    await expectRefused(`${header}.${b64(claims({ dept: 'housing-fund' }))}.${signature}`);
  });

  it('refuses a wrong issuer', async () => {
    await expectRefused(await signed(claims({ iss: 'https://evil.example' })));
  });

  it('refuses a wrong audience, including a provider token the gateway signed itself', async () => {
    await expectRefused(await signed(claims({ aud: 'someone-else' })));
    await expectRefused(gw.app.providerToken('public-security'));
  });

  it('refuses a token without exp', async () => {
    const { exp: _exp, ...rest } = claims();
    await expectRefused(await signed(rest));
  });

  it('refuses an expired token', async () => {
    await expectRefused(await signed(claims({ iat: now() - 600, exp: now() - 60 })));
  });

  it('refuses a token that is not valid yet (nbf in the future)', async () => {
    await expectRefused(await signed(claims({ nbf: now() + 600 })));
  });

  it('refuses an unknown kid, and a token without kid', async () => {
    await expectRefused(await signed(claims(), 'no-such-key'));
    const token = await new SignJWT(claims()).setProtectedHeader({ alg: 'EdDSA' }).sign(gw.app.keyring.current.privateKey);
    await expectRefused(token);
  });

  it('refuses a raw signature over the right input with a mangled encoding', async () => {
    const key = gw.app.keyring.current;
    const input = `${b64({ alg: 'EdDSA', kid: key.kid })}.${b64(claims())}`;
    const signature = sign(null, Buffer.from(input), key.privateKey).toString('base64url');
    expect((await call(`${input}.${signature}`)).statusCode).toBe(200);
    await expectRefused(`${input}.${signature.slice(0, -4)}AAAA`);
  });

  it('refuses the tokens of a revoked client, within the revocation check interval', async () => {
    const token = await gw.token('market-regulation-window');
    expect((await call(token)).statusCode).toBe(200);
    expect(await revokeClient(gw.app.db, 'market-regulation-window')).toBe(true);
    // The status cache would notice within REVOCATION_CHECK_MS; forgetting it makes the test instant.
    gw.app.forgetClientStatus('market-regulation-window');
    await expectRefused(token);
  });
});
