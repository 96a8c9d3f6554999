/**
 * Issue 10.2: requests without a valid token are limited per address at onRequest, before any
 * signature check or audit write, so an anonymous flood cannot fill the audit trail.
 */
import type { AuditAction } from '../../src/audit/event.js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DATABASE_KINDS } from '../helpers/db.js';
import { problemOf, requestToken, startTestGateway, type TestGateway } from '../helpers/app.js';
import { startRedisReplicas, type RedisReplicas } from '../helpers/replicas.js';

const FLOODER = '203.0.113.7';
const lookupBody = (gw: TestGateway) => ({
  type: 'household-registration',
  subject: { kind: 'person', id: gw.subjects[0]!.id },
  purpose: 'housing-fund-withdrawal',
  caseId: 'FLOOD-1',
});

describe.each(DATABASE_KINDS)('unauthenticated flood limit on %s', (kind) => {
  let gw: TestGateway;

  beforeAll(async () => {
    // The default UNAUTH_RATE_LIMIT_PER_MINUTE (120).
    gw = await startTestGateway(kind);
  });
  afterAll(async () => gw?.close());

  const events = (where: { action?: AuditAction; errorCode?: string } = {}) => {
    let q = gw.db.db.selectFrom('audit_events').selectAll();
    if (where.action) q = q.where('action', '=', where.action);
    if (where.errorCode) q = q.where('error_code', '=', where.errorCode);
    return q.execute();
  };

  it('answers 300 bad-token lookups from one address with 120 audited 401s, then 429s and one summary event', async () => {
    // A department system at the same address got its token before the flood and has used it.
    const window = gw.credentials.find((c) => c.clientId === 'housing-fund-window')!;
    const issued = await requestToken(gw.app, window.clientId, window.clientSecret, FLOODER);
    expect(issued.statusCode).toBe(200);
    const validToken = (issued.json() as { access_token: string }).access_token;
    const use = () => gw.app.inject({ url: '/v1/procedures', remoteAddress: FLOODER, headers: { authorization: `Bearer ${validToken}` } });
    expect((await use()).statusCode).toBe(200);

    const before = (await events()).length;
    const statuses: number[] = [];
    let lastLimited: Awaited<ReturnType<typeof use>> | null = null;
    for (let k = 0; k < 300; k += 1) {
      const res = await gw.app.inject({
        method: 'POST',
        url: '/v1/lookups',
        remoteAddress: FLOODER,
        headers: { authorization: `Bearer not.a.token${k}` },
        payload: lookupBody(gw),
      });
      statuses.push(res.statusCode);
      if (res.statusCode === 429) lastLimited = res;
    }
    expect(statuses.filter((s) => s === 401)).toHaveLength(120);
    expect(statuses.slice(120).every((s) => s === 429)).toBe(true);
    expect(lastLimited!.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(problemOf(lastLimited!).code).toBe('RATE_LIMITED');
    const retryAfter = Number(lastLimited!.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    // The refusal never names the address.
    expect(lastLimited!.body).not.toContain(FLOODER);

    // 120 refused lookups audited one by one; the 180 limited ones by one summary so far.
    expect(await events({ action: 'lookup', errorCode: 'UNAUTHENTICATED' })).toHaveLength(120);
    // The first summary is written at the first refusal, without holding up the 429.
    const summaries = await vi.waitFor(async () => {
      const found = await events({ action: 'rate.limited' });
      expect(found).toHaveLength(1);
      return found;
    });
    expect(summaries[0]).toMatchObject({ outcome: 'denied', error_code: 'RATE_LIMITED', client_id: null, subject_hmac: null });
    expect(summaries[0]!.detail).toMatchObject({ scope: 'unauthenticated', address: FLOODER, refused: 1 });
    // The rest are written at the latest after a minute (here: now, as at shutdown), still as one event.
    await gw.app.unauthLimit.flushSummaries();
    const all = await events({ action: 'rate.limited' });
    expect(all).toHaveLength(2);
    expect(all.reduce((n, e) => n + Number((e.detail as { refused: number }).refused), 0)).toBe(180);
    expect((await events()).length - before).toBe(122);

    // The client that authenticated before the flood still works from that address...
    expect((await use()).statusCode).toBe(200);
    // ...while a token this replica has not yet verified waits for the window, like the token endpoint.
    expect(
      (await gw.app.inject({ url: '/v1/procedures', remoteAddress: FLOODER, headers: { authorization: 'Bearer x.y.z' } })).statusCode,
    ).toBe(429);
    const tokenRequest = await requestToken(gw.app, window.clientId, window.clientSecret, FLOODER);
    expect(tokenRequest.statusCode).toBe(429);

    // Probes, keys and the contract are never starved.
    for (const url of ['/healthz', '/readyz', '/.well-known/jwks.json', '/openapi.json']) {
      expect((await gw.app.inject({ url, remoteAddress: FLOODER })).statusCode, url).toBe(200);
    }
    // Other addresses are unaffected.
    const other = await gw.app.inject({ method: 'POST', url: '/v1/lookups', remoteAddress: '198.51.100.9', payload: lookupBody(gw) });
    expect(problemOf(other).code).toBe('UNAUTHENTICATED');
  });

  it('keeps individual events at the limit when the flood arrives all at once', async () => {
    const address = '203.0.113.99';
    const before = await events({ action: 'lookup', errorCode: 'UNAUTHENTICATED' });
    const responses = await Promise.all(
      Array.from({ length: 300 }, () =>
        gw.app.inject({ method: 'POST', url: '/v1/lookups', remoteAddress: address, payload: lookupBody(gw) }),
      ),
    );
    expect(responses.every((r) => r.statusCode === 401 || r.statusCode === 429)).toBe(true);
    const after = await events({ action: 'lookup', errorCode: 'UNAUTHENTICATED' });
    expect(after.length - before.length).toBe(120);
    const next = await gw.app.inject({ method: 'POST', url: '/v1/lookups', remoteAddress: address, payload: lookupBody(gw) });
    expect(next.statusCode).toBe(429);
  });
});

describe('UNAUTH_RATE_LIMIT_PER_MINUTE', () => {
  it('sets the allowance per address', async () => {
    const gw = await startTestGateway('pglite', { env: { UNAUTH_RATE_LIMIT_PER_MINUTE: '2' }, demo: false });
    try {
      const codes: number[] = [];
      for (let k = 0; k < 4; k += 1) codes.push((await gw.app.inject({ url: '/v1/procedures' })).statusCode);
      expect(codes).toEqual([401, 401, 429, 429]);
    } finally {
      await gw.close();
    }
  });
});

describe.skipIf(!process.env.REDIS_URL)('unauthenticated limit shared through Redis', () => {
  let replicas: RedisReplicas;
  beforeAll(async () => {
    replicas = await startRedisReplicas('pglite', { UNAUTH_RATE_LIMIT_PER_MINUTE: '3' }, false);
  });
  afterAll(async () => replicas?.close());

  it('lets two replicas count one address together', async () => {
    const statuses: number[] = [];
    const { first, second } = replicas;
    for (const gw of [first, second, first, second, first]) {
      statuses.push((await gw.app.inject({ url: '/v1/procedures', remoteAddress: '192.0.2.77' })).statusCode);
    }
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
  });
});
