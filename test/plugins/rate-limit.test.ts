import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASE_KINDS } from '../helpers/db.js';
import { gatewayForSuite, problemOf, type TestGateway } from '../helpers/app.js';
import { startRedisReplicas, type RedisReplicas } from '../helpers/replicas.js';

const procedures = (gw: TestGateway, token: string) =>
  gw.app.inject({ url: '/v1/procedures', headers: { authorization: `Bearer ${token}` } });

describe.each(DATABASE_KINDS)('per-client rate limit on %s', (kind) => {
  const suite = gatewayForSuite(kind, { env: { RATE_LIMIT_PER_MINUTE: '3' } });

  it('answers 429 RATE_LIMITED with Retry-After once a client has used its quota, per client', async () => {
    const taxation = await suite.gw.token('taxation-window');
    for (let k = 0; k < 3; k += 1) expect((await procedures(suite.gw, taxation)).statusCode).toBe(200);
    const limited = await procedures(suite.gw, taxation);
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(problemOf(limited).code).toBe('RATE_LIMITED');
    const retryAfter = Number(limited.headers['retry-after']);
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);

    // Another client of the same gateway has its own quota.
    const housing = await suite.gw.token('housing-fund-window');
    expect((await procedures(suite.gw, housing)).statusCode).toBe(200);
  });

  it('counts audited routes too, and audits the refusal', async () => {
    const token = await suite.gw.token('civil-affairs-window');
    const body = { procedure: 'dragon-taming', applicant: { kind: 'person', id: suite.gw.subjects[0]!.id }, caseId: 'RL-1' };
    const codes: number[] = [];
    for (let k = 0; k < 4; k += 1) {
      const res = await suite.gw.app.inject({
        method: 'POST',
        url: '/v1/cases',
        headers: { authorization: `Bearer ${token}` },
        payload: body,
      });
      codes.push(res.statusCode);
      if (res.statusCode === 429) {
        const [event] = await suite.gw.db.db
          .selectFrom('audit_events')
          .selectAll()
          .where('request_id', '=', problemOf(res).requestId)
          .execute();
        expect(event).toMatchObject({
          action: 'case.material',
          outcome: 'denied',
          error_code: 'RATE_LIMITED',
          client_id: 'civil-affairs-window',
        });
      }
    }
    expect(codes).toEqual([404, 404, 404, 429]);
  });
});

describe.skipIf(!process.env.REDIS_URL).each(DATABASE_KINDS)('rate limit shared through Redis on %s', (kind) => {
  let replicas: RedisReplicas;
  beforeAll(async () => {
    replicas = await startRedisReplicas(kind, { RATE_LIMIT_PER_MINUTE: '4' });
  });
  afterAll(async () => replicas?.close());

  it('lets two replicas draw on one quota per client', async () => {
    const { first, second, namespace } = replicas;
    const token = await first.token('taxation-window');
    const statuses: number[] = [];
    for (const gw of [first, second, first, second, second, first]) statuses.push((await procedures(gw, token)).statusCode);
    expect(statuses).toEqual([200, 200, 200, 200, 429, 429]);

    const redis = new Redis(process.env.REDIS_URL!);
    try {
      expect(Number(await redis.get(`${namespace}client:taxation-window`))).toBeGreaterThanOrEqual(4);
    } finally {
      await redis.quit();
    }
  });
});
