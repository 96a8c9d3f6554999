/**
 * Issue 10.4: with PUBLIC_URL unset, replicas on one PostgreSQL database use the issuer the first
 * recorded there, so each accepts the other's tokens; on the embedded database nothing changes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { requestToken, startTestGateway, type TestGateway } from '../helpers/app.js';

const withoutPublicUrl = (port: string) => ({ PUBLIC_URL: '', PORT: port });
const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as { iss: string };

describe.skipIf(!process.env.TEST_DATABASE_URL)('two replicas without PUBLIC_URL on one PostgreSQL database', () => {
  let db: TestDatabase;
  let first: TestGateway;
  let second: TestGateway;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    first = await startTestGateway('postgres', { database: db, env: withoutPublicUrl('3101') });
    second = await startTestGateway('postgres', { database: db, env: withoutPublicUrl('3102'), demo: false });
  });
  afterAll(async () => {
    await second?.close();
    await first?.close();
    await db?.dispose();
  });

  it("share the issuer the first one recorded, and accept each other's tokens", async () => {
    expect(first.app.config.publicUrl).toBe('http://127.0.0.1:3101');
    expect(second.app.config.publicUrl).toBe('http://127.0.0.1:3102');
    expect(first.app.issuer).toBe('http://127.0.0.1:3101');
    expect(second.app.issuer).toBe('http://127.0.0.1:3101');
    const row = await db.db.selectFrom('gateway_secrets').select('value').where('name', '=', 'issuer').executeTakeFirstOrThrow();
    expect(row.value).toBe('http://127.0.0.1:3101');

    // The second replica was not seeded itself: it knows the demo clients through the shared database.
    const window = first.credentials.find((c) => c.clientId === 'taxation-window')!;
    const issued = await requestToken(second.app, window.clientId, window.clientSecret);
    expect(issued.statusCode).toBe(200);
    const fromSecond = (issued.json() as { access_token: string }).access_token;
    const fromFirst = await first.token('taxation-window');
    expect(claimsOf(fromFirst).iss).toBe('http://127.0.0.1:3101');
    for (const [gw, token] of [
      [second, fromFirst],
      [first, fromSecond],
    ] as const) {
      const res = await gw.app.inject({ url: '/v1/procedures', headers: { authorization: `Bearer ${token}` } });
      expect(res.statusCode).toBe(200);
    }
  });
});

describe('without PUBLIC_URL on the embedded database', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway('pglite', { env: withoutPublicUrl('3103') });
  });
  afterAll(async () => gw?.close());

  it('issues tokens as http://HOST:PORT and records nothing', async () => {
    expect(gw.app.issuer).toBe('http://127.0.0.1:3103');
    expect(claimsOf(await gw.token('taxation-window')).iss).toBe('http://127.0.0.1:3103');
    const rows = await gw.db.db.selectFrom('gateway_secrets').select('name').where('name', '=', 'issuer').execute();
    expect(rows).toHaveLength(0);
  });
});
