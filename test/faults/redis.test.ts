import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lookupBody, personHolding, post } from '../audit/support.js';
import { startTestGateway, type TestGateway } from '../helpers/app.js';
import { freePort } from '../helpers/child-gateway.js';

/**
 * Redis holds only rate-limit counters: while it is unreachable the gateway keeps serving (quotas
 * unenforced, a warning logged) rather than refusing every call. The database kind is irrelevant.
 */
describe('Redis unreachable', () => {
  let gw: TestGateway;

  beforeAll(async () => {
    // A port nothing listens on: connections are refused, as when Redis is down.
    gw = await startTestGateway('pglite', { env: { REDIS_URL: `redis://127.0.0.1:${await freePort()}` } });
  });
  afterAll(async () => gw?.close());

  it('still answers lookups, each with its committed audit event', async () => {
    const token = await gw.token('housing-fund-window');
    const person = personHolding(gw, 'household-registration');
    const answers = await Promise.all([0, 1, 2].map((i) => post(gw, '/v1/lookups', token, lookupBody(person, { caseId: `HF-R-${i}` }))));
    expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 200]);
    const rows = await gw.db.db
      .selectFrom('audit_events')
      .select('id')
      .where(
        'id',
        'in',
        answers.map((a) => a.json().lookupId as string),
      )
      .execute();
    expect(rows).toHaveLength(3);
  });
});
