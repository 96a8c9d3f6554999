/**
 * Issue 10.3: the token endpoint's quota (60 a minute) is per client id, per address only for ids
 * nobody registered, and X-Forwarded-For names the address only when a TRUST_PROXY proxy sent it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASE_KINDS } from '../helpers/db.js';
import { problemOf, startTestGateway, type TestGateway } from '../helpers/app.js';

/** A token request refused fast (400, no secret check) that still names a client id. */
const badGrant = (gw: TestGateway, clientId: string, headers: Record<string, string> = {}, remoteAddress = '127.0.0.1') =>
  gw.app.inject({
    method: 'POST',
    url: '/v1/auth/token',
    remoteAddress,
    headers,
    payload: { grant_type: 'password', client_id: clientId, client_secret: 'x' },
  });

const goodToken = (gw: TestGateway, clientId: string, headers: Record<string, string> = {}, remoteAddress = '127.0.0.1') => {
  const c = gw.credentials.find((x) => x.clientId === clientId)!;
  return gw.app.inject({
    method: 'POST',
    url: '/v1/auth/token',
    remoteAddress,
    headers,
    payload: { grant_type: 'client_credentials', client_id: c.clientId, client_secret: c.clientSecret },
  });
};

describe.each(DATABASE_KINDS)('token endpoint quota on %s', (kind) => {
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startTestGateway(kind);
  });
  afterAll(async () => gw?.close());

  it('counts per client id, so one misbehaving client behind a shared address locks out only itself', async () => {
    const statuses: number[] = [];
    for (let k = 0; k < 61; k += 1) statuses.push((await badGrant(gw, 'taxation-window')).statusCode);
    expect(statuses.slice(0, 60).every((s) => s === 400)).toBe(true);
    expect(statuses[60]).toBe(429);
    const limited = await badGrant(gw, 'taxation-window');
    expect(problemOf(limited).code).toBe('RATE_LIMITED');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // The same address, another client: its own quota, and its failures never counted against the address.
    expect((await goodToken(gw, 'housing-fund-window')).statusCode).toBe(200);
    // The misbehaving client's 60 refusals are audited one by one; its 429s only in a summary.
    const denied = await gw.db.db
      .selectFrom('audit_events')
      .selectAll()
      .where('action', '=', 'token.issue')
      .where('outcome', '=', 'denied')
      .execute();
    expect(denied).toHaveLength(60);
    expect(denied.every((e) => e.error_code === 'VALIDATION_FAILED')).toBe(true);
  });

  it('puts ids nobody registered into one quota per address', async () => {
    const address = '192.0.2.10';
    const statuses: number[] = [];
    for (let k = 0; k < 61; k += 1) statuses.push((await badGrant(gw, `made-up-${k}`, {}, address)).statusCode);
    expect(statuses.slice(0, 60).every((s) => s === 400)).toBe(true);
    expect(statuses[60]).toBe(429);
    // A registered client at that address is not affected.
    expect((await goodToken(gw, 'civil-affairs-window', {}, address)).statusCode).toBe(200);
  });
});

describe('TRUST_PROXY', () => {
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startTestGateway('pglite', { env: { TRUST_PROXY: '10.0.0.0/8' } });
  });
  afterAll(async () => gw?.close());

  it('believes X-Forwarded-For from a listed proxy only, so clients behind it have separate quotas', async () => {
    const proxy = '10.1.2.3';
    const viaProxy = (client: string, id: string) => badGrant(gw, id, { 'x-forwarded-for': client }, proxy);
    const first: number[] = [];
    for (let k = 0; k < 61; k += 1) first.push((await viaProxy('198.51.100.1', `unknown-${k}`)).statusCode);
    expect(first[59]).toBe(400);
    expect(first[60]).toBe(429);
    // Another client behind the same proxy has its own per-address quota.
    expect((await viaProxy('198.51.100.2', 'unknown-x')).statusCode).toBe(400);

    // A peer that is not a listed proxy cannot pick its address with the header: all its requests
    // count against its own address, whatever X-Forwarded-For says.
    const direct: number[] = [];
    for (let k = 0; k < 61; k += 1) {
      direct.push((await badGrant(gw, `unknown-${k}`, { 'x-forwarded-for': `198.51.100.${100 + k}` }, '192.0.2.50')).statusCode);
    }
    expect(direct[59]).toBe(400);
    expect(direct[60]).toBe(429);
  });
});
