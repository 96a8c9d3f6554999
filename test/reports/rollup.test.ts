import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { down, up } from '../../migrations/0006_reports.js';
import type { DB } from '../../src/db/index.js';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../helpers/db.js';

let seq = 0;
/** One case.material (or other) event row, inserted straight into the parent table. */
function material(
  requestId: string,
  outcome: string,
  reason: string | null,
  extra: { action?: string; type?: string | null; time?: string } = {},
) {
  seq += 1;
  return sql`(${seq}, gen_random_uuid(), ${extra.time ?? new Date().toISOString()}::timestamptz, ${requestId}, 'housing-fund', ${extra.action ?? 'case.material'},
    ${extra.type === undefined ? 'household-registration' : extra.type}, 'housing-fund-withdrawal', 'HF-1', '[]'::jsonb, ${outcome}, 0,
    ${reason === null ? 'null' : JSON.stringify({ reason })}::jsonb, 'x', 'y')`;
}

async function insert(db: DB, rows: ReturnType<typeof material>[]) {
  await sql`insert into audit_events (seq, id, time, request_id, consumer, action, type, purpose, case_id, fields, outcome, latency_ms, detail, prev_hash, hash)
    values ${sql.join(rows)}`.execute(db);
}

const cases = (db: DB) =>
  db.selectFrom('report_cases').select(['request_id', 'materials', 'fetched', 'to_submit', 'reasons']).orderBy('request_id').execute();

describe.each(DATABASE_KINDS)('report_cases rollup on %s', (kind) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase(kind);
    await sql`select onetrip_audit_ensure_partition(now())`.execute(db.db);
  });
  afterAll(async () => db?.dispose());

  it('adds up a case whose materials land in different batches, and skips what is not a case', async () => {
    await insert(db.db, [
      material('r-split', 'ok', null),
      material('r-split', 'not_found', 'not_held'),
      material('r-other', 'ok', null, { action: 'lookup' }),
    ]);
    await insert(db.db, [material('r-split', 'denied', 'not_granted'), material('r-split', 'not_found', 'not_held')]);
    // A whole-request refusal (no type) and an event without a recorded reason.
    await insert(db.db, [material('r-refused', 'denied', null, { type: null }), material('r-old', 'error', null)]);
    expect(await cases(db.db)).toEqual([
      { request_id: 'r-old', materials: 1, fetched: 0, to_submit: 1, reasons: { unknown: 1 } },
      { request_id: 'r-split', materials: 4, fetched: 1, to_submit: 3, reasons: { not_held: 2, not_granted: 1 } },
    ]);
  });

  it('does not count events that retention re-inserts', async () => {
    await db.db.transaction().execute(async (trx) => {
      await sql`select set_config('onetrip.rerouting', 'on', true)`.execute(trx);
      await insert(trx, [material('r-split', 'ok', null), material('r-rerouted', 'ok', null)]);
    });
    const rows = await cases(db.db);
    expect(rows.find((r) => r.request_id === 'r-split')).toMatchObject({ materials: 4 });
    expect(rows.find((r) => r.request_id === 'r-rerouted')).toBeUndefined();
  });

  it('backfills the cases already in the trail when the migration runs', async () => {
    await down(db.db);
    await insert(db.db, [material('r-before', 'ok', null), material('r-before', 'not_found', 'not_held')]);
    await up(db.db);
    const rows = await cases(db.db);
    expect(rows.find((r) => r.request_id === 'r-before')).toEqual({
      request_id: 'r-before',
      materials: 2,
      fetched: 1,
      to_submit: 1,
      reasons: { not_held: 1 },
    });
    // The re-inserted events are in the trail now, so a rebuild counts them: the rollup is the trail's.
    expect(rows.find((r) => r.request_id === 'r-split')).toMatchObject({ materials: 5 });
    await insert(db.db, [material('r-after', 'ok', null)]);
    expect((await cases(db.db)).find((r) => r.request_id === 'r-after')).toMatchObject({ materials: 1, fetched: 1 });
  });
});
