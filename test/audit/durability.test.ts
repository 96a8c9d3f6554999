import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerDemoProviders } from '../../src/demo/seed.js';
import { problemOf, startTestGateway, type TestGateway } from '../helpers/app.js';
import { DATABASE_KINDS, withAdmin } from '../helpers/db.js';
import { lookupBody, personHolding, post, verifyApi } from './support.js';

/** Retries a lookup every 100 ms until it succeeds; returns how long that took. */
async function untilServed(send: () => Promise<{ statusCode: number }>, budgetMs: number): Promise<number> {
  const started = performance.now();
  for (;;) {
    const res = await send();
    if (res.statusCode === 200) return performance.now() - started;
    expect(res.statusCode).toBe(503);
    if (performance.now() - started > budgetMs) throw new Error(`still ${res.statusCode} after ${budgetMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.each(DATABASE_KINDS)('durable before release on %s', (kind) => {
  let gw: TestGateway;
  let consumer: string;
  let auditor: string;
  let person: string;

  beforeAll(async () => {
    gw = await startTestGateway(kind, { config: { auditFlushIntervalMs: 2, auditFlushMaxEvents: 256 } });
    [consumer, auditor] = await Promise.all([gw.token('housing-fund-window'), gw.token('audit-office')]);
    person = personHolding(gw, 'household-registration');
  });
  afterAll(async () => gw?.close());

  const lookup = (caseId: string) => post(gw, '/v1/lookups', consumer, lookupBody(person, { caseId }));

  it('commits an event for every one of 64 concurrent lookups before answering, in shared transactions', async () => {
    const answers = await Promise.all(Array.from({ length: 64 }, (_v, i) => lookup(`HF-C-${i}`)));
    expect(answers.map((a) => a.statusCode)).toEqual(Array(64).fill(200));
    const ids = answers.map((a) => a.json().lookupId as string);
    const rows = await gw.db.db.selectFrom('audit_events').selectAll().where('id', 'in', ids).execute();
    expect(rows).toHaveLength(64);
    expect(new Set(rows.map((r) => r.id))).toEqual(new Set(ids));
    for (const a of answers) {
      const row = rows.find((r) => r.id === a.json().lookupId)!;
      expect(row).toMatchObject({
        action: 'lookup',
        outcome: 'ok',
        request_id: a.headers['x-request-id'],
        case_id: a.json().proof ? expect.stringMatching(/^HF-C-/) : null,
      });
    }
    const tx = await sql<{
      n: number;
    }>`select count(distinct xmin::text)::int as n from audit_events where id = any(${ids}::uuid[])`.execute(gw.db.db);
    expect(Number(tx.rows[0]!.n)).toBeLessThan(64);
    expect(await verifyApi(gw, auditor)).toMatchObject({ ok: true });
  });

  it('answers 503 AUDIT_UNAVAILABLE with no data while events cannot be committed, then serves again', async () => {
    await sql`alter table audit_chain_head rename to audit_chain_head_away`.execute(gw.db.db);
    let answers;
    try {
      answers = await Promise.all(Array.from({ length: 8 }, (_v, i) => lookup(`HF-D-${i}`)));
    } finally {
      await sql`alter table audit_chain_head_away rename to audit_chain_head`.execute(gw.db.db);
    }
    for (const a of answers) {
      expect(a.statusCode).toBe(503);
      expect(a.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(problemOf(a).code).toBe('AUDIT_UNAVAILABLE');
      expect(a.json()).not.toHaveProperty('record');
      // The proof is signed while the event commits (issue 12): it must be dropped with the record.
      expect(a.json()).not.toHaveProperty('proof');
      expect(a.body).not.toMatch(/eyJ/);
    }
    const written = await gw.db.db.selectFrom('audit_events').select('id').where('case_id', 'like', 'HF-D-%').execute();
    expect(written).toEqual([]);
    expect(await untilServed(() => lookup('HF-D-after'), 5_000)).toBeLessThan(5_000);
    expect(await verifyApi(gw, auditor)).toMatchObject({ ok: true });
  });

  it.runIf(kind === 'postgres')(
    'answers 503, never 500 and never data, while PostgreSQL refuses connections, and recovers within 5 s',
    async () => {
      const name = new URL(gw.db.url!).pathname.slice(1);
      const headBefore = (await verifyApi(gw, auditor)).head;
      const consumerToken = await gw.token('housing-fund-window');
      let outageCatalog: Awaited<ReturnType<typeof gw.app.inject>> | undefined;
      // "PostgreSQL stopped" for this database only: no new connections, and every open one cut.
      await withAdmin(async (c) => {
        await c.query(`alter database ${name} allow_connections false`);
        await c.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [name]);
      });
      try {
        // Past the registry and client-status caches (2 s), so every layer meets the outage.
        for (const wait of [0, 2_100]) {
          await new Promise((r) => setTimeout(r, wait));
          const answers = await Promise.all(Array.from({ length: 6 }, (_v, i) => lookup(`HF-S-${wait}-${i}`)));
          for (const a of answers) {
            expect(a.statusCode).toBe(503);
            expect(problemOf(a).code).toBe('AUDIT_UNAVAILABLE');
            expect(a.json()).not.toHaveProperty('record');
          }
        }
        // A route without an audit event meets the outage too (client status past its cache): 503, not 500.
        outageCatalog = await gw.app.inject({ url: '/v1/catalog', headers: { authorization: `Bearer ${consumerToken}` } });
      } finally {
        await withAdmin((c) => c.query(`alter database ${name} allow_connections true`));
      }
      expect(await untilServed(() => lookup('HF-S-after'), 5_000)).toBeLessThan(5_000);
      expect(outageCatalog?.statusCode).toBe(503);
      expect(outageCatalog && problemOf(outageCatalog).code).toBe('NOT_READY');
      const verdict = await verifyApi(gw, auditor);
      expect(verdict.ok).toBe(true);
      const lost = await gw.db.db
        .selectFrom('audit_events')
        .select('id')
        .where('case_id', 'like', 'HF-S-%')
        .where('case_id', '<>', 'HF-S-after')
        .execute();
      expect(lost).toEqual([]);
      expect(verdict.head.seq).toBeGreaterThan(headBefore.seq);
    },
  );

  it('flushes on shutdown the events still waiting for their group commit, and their lookups are answered', async () => {
    // A second replica on the same database whose timer never fires in the test: only its shutdown can flush.
    const replica = await startTestGateway(kind, {
      database: gw.db,
      demo: false,
      beforeRoutes: (app) => registerDemoProviders(app),
      config: { auditFlushIntervalMs: 60_000, auditFlushMaxEvents: 1000 },
    });
    const answers = Promise.all([0, 1, 2].map((i) => post(replica, '/v1/lookups', consumer, lookupBody(person, { caseId: `HF-Q-${i}` }))));
    while (replica.app.audit.writer.pending < 3) await new Promise((r) => setImmediate(r));
    await replica.close();
    const done = await answers;
    expect(done.map((a) => a.statusCode)).toEqual([200, 200, 200]);
    const rows = await gw.db.db.selectFrom('audit_events').select('id').where('case_id', 'like', 'HF-Q-%').execute();
    expect(rows.map((r) => r.id).sort()).toEqual(done.map((a) => a.json().lookupId).sort());
  });
});
