import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../helpers/db.js';

describe.each(DATABASE_KINDS)('monthly audit partitions on %s', (kind) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase(kind);
  });
  afterAll(async () => db?.dispose());

  const ensure = async (ts: string) =>
    (await sql<{ p: string }>`select onetrip_audit_ensure_partition(${ts}::timestamptz) as p`.execute(db.db)).rows[0]!.p;

  it('creates the month partition once, append-only like the parent', async () => {
    expect(await ensure('2030-01-15T08:00:00Z')).toBe('audit_events_2030_01');
    expect(await ensure('2030-01-31T23:59:59Z')).toBe('audit_events_2030_01');
    await expect(sql`truncate audit_events_2030_01`.execute(db.db)).rejects.toThrow(/append-only/);
  });

  it('keeps a month in the default partition when that already holds rows of it, instead of failing every event', async () => {
    await sql`
      insert into audit_events_default (seq, id, time, request_id, action, fields, outcome, latency_ms, prev_hash, hash)
      values (999999, '00000000-0000-4000-8000-000000000001', '2031-03-10T00:00:00Z', 'r', 'lookup', '[]', 'ok', 0, 'x', 'y')
    `.execute(db.db);
    expect(await ensure('2031-03-20T00:00:00Z')).toBe('audit_events_default');
    expect(await ensure('2031-04-01T00:00:00Z')).toBe('audit_events_2031_04');
  });
});
