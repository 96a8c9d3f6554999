/**
 * Issue 11, integrator conventions: a real OAuth client library (oauth4webapi) discovers the token
 * endpoint (RFC 8414), gets a token with client credentials, and reads a wrong secret as invalid_client
 * (RFC 6749 §5.2); other routes' 401s challenge with Bearer; /openapi.json names the running gateway.
 */
import { createServer } from 'node:net';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASE_KINDS } from '../helpers/db.js';
import { startTestGateway, type TestGateway } from '../helpers/app.js';

/** A port free right now, so PUBLIC_URL can name the address the gateway will listen on. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const insecure = { [oauth.allowInsecureRequests]: true };

describe.each(DATABASE_KINDS)('OAuth clients against the gateway on %s', (kind) => {
  let gw: TestGateway;
  let issuer: URL;

  beforeAll(async () => {
    const port = await freePort();
    const publicUrl = `http://127.0.0.1:${port}`;
    gw = await startTestGateway(kind, { env: { PUBLIC_URL: publicUrl } });
    await gw.app.listen({ host: '127.0.0.1', port });
    issuer = new URL(publicUrl);
  });
  afterAll(async () => gw?.close());

  const discover = async () =>
    oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));

  it('discovers the token endpoint and gets a token with client_secret_basic and client_secret_post', async () => {
    const as = await discover();
    expect(as).toMatchObject({
      issuer: issuer.href.replace(/\/$/, ''),
      token_endpoint: `${issuer.origin}/v1/auth/token`,
      jwks_uri: `${issuer.origin}/.well-known/jwks.json`,
      grant_types_supported: ['client_credentials'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    });
    const c = gw.credentials.find((x) => x.clientId === 'taxation-window')!;
    for (const auth of [oauth.ClientSecretBasic(c.clientSecret), oauth.ClientSecretPost(c.clientSecret)]) {
      const response = await oauth.clientCredentialsGrantRequest(as, { client_id: c.clientId }, auth, new URLSearchParams(), insecure);
      const token = await oauth.processClientCredentialsResponse(as, { client_id: c.clientId }, response);
      expect(token.token_type).toBe('bearer');
      const procedures = await fetch(`${issuer.origin}/v1/procedures`, { headers: { authorization: `Bearer ${token.access_token}` } });
      expect(procedures.status).toBe(200);
    }
  });

  it('surfaces a wrong secret as invalid_client, with a Basic challenge and the problem members', async () => {
    const as = await discover();
    const response = await oauth.clientCredentialsGrantRequest(
      as,
      { client_id: 'taxation-window' },
      oauth.ClientSecretBasic('wrong'),
      new URLSearchParams(),
      insecure,
    );
    const failure = await oauth
      .processClientCredentialsResponse(as, { client_id: 'taxation-window' }, response)
      .catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(oauth.WWWAuthenticateChallengeError);
    const challenge = failure as oauth.WWWAuthenticateChallengeError;
    expect(challenge.status).toBe(401);
    expect(challenge.cause[0]).toMatchObject({ scheme: 'basic', parameters: { realm: 'onetrip', error: 'invalid_client' } });
    expect(challenge.response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await challenge.response.json()).toMatchObject({ error: 'invalid_client', code: 'UNAUTHENTICATED', status: 401 });

    // Without a challenge in the way (credentials in the body, as a library that skips 401 challenges reads it).
    const posted = await fetch(`${issuer.origin}/v1/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials&client_id=taxation-window&client_secret=wrong',
    });
    expect(posted.status).toBe(401);
    expect(await posted.json()).toMatchObject({ error: 'invalid_client', error_description: 'invalid client credentials' });
  });

  it('answers grant and request errors as unsupported_grant_type and invalid_request', async () => {
    const post = (body: string, type = 'application/x-www-form-urlencoded') =>
      fetch(`${issuer.origin}/v1/auth/token`, { method: 'POST', headers: { 'content-type': type }, body });
    const password = await post('grant_type=password&client_id=taxation-window&client_secret=x');
    expect(password.status).toBe(400);
    expect(password.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await password.json()).toMatchObject({ error: 'unsupported_grant_type', code: 'VALIDATION_FAILED' });
    expect(await (await post('client_id=taxation-window')).json()).toMatchObject({ error: 'invalid_request' });
    expect(await (await post('{not json', 'application/json')).json()).toMatchObject({ error: 'invalid_request' });
  });

  it('challenges with Bearer error="invalid_token" on other routes, and keeps problem+json there', async () => {
    for (const headers of [{}, { authorization: 'Bearer not-a-token' }] as Array<Record<string, string>>) {
      const res = await fetch(`${issuer.origin}/v1/procedures`, { headers });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="onetrip", error="invalid_token"');
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    }
  });

  it('serves /openapi.json and /docs with the running gateway as their server', async () => {
    const doc = (await (await fetch(`${issuer.origin}/openapi.json`)).json()) as { servers: Array<{ url: string }> };
    expect(doc.servers).toEqual([{ url: issuer.origin, description: 'This gateway' }]);
    const ui = (await (await fetch(`${issuer.origin}/docs/json`)).json()) as { servers: Array<{ url: string }> };
    expect(ui.servers[0]!.url).toBe(issuer.origin);
  });
});
