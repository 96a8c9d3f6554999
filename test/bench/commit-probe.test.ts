import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { STALL_MS, startCommitProbe, summarise } from '../../bench/commit-probe.js';
import { createThrowawayDatabase } from '../helpers/db.js';

describe('bench: durable commit probe', () => {
  it('summarises latencies with the stalls counted apart', () => {
    const samples = [...Array.from({ length: 98 }, () => 1), STALL_MS, 80];
    expect(summarise(samples)).toEqual({ count: 100, p50: 1, p99: STALL_MS, max: 80, stalls: 2 });
    expect(summarise([])).toMatchObject({ count: 0, stalls: 0 });
  });

  it.skipIf(!process.env.TEST_DATABASE_URL)(
    'times one-row commits on PostgreSQL until stopped, and hands each batch out once',
    async () => {
      const db = await createThrowawayDatabase(process.env.TEST_DATABASE_URL!, { prefix: 'onetrip_t_', poolSize: 1 });
      try {
        const probe = await startCommitProbe(db.url, 5);
        await new Promise((resolve) => setTimeout(resolve, 300));
        const first = probe.take();
        expect(first.length).toBeGreaterThan(5);
        expect(first.every((ms) => ms > 0 && ms < 5_000)).toBe(true);
        await new Promise((resolve) => setTimeout(resolve, 100));
        const second = probe.take();
        await probe.stop();
        expect(probe.failure).toBeNull();
        // Each commit is in one batch: together they are the rows the probe wrote.
        const { rows } = await sql<{ n: number }>`select count(*)::int as n from bench_commit_probe`.execute(db.db);
        expect(first.length + second.length).toBeLessThanOrEqual(rows[0]!.n);
        expect(first.length + second.length).toBeGreaterThanOrEqual(rows[0]!.n - 1);
      } finally {
        await db.dispose();
      }
    },
  );
});
