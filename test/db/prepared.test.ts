import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPrepared } from '../../src/db/index.js';
import { DATABASE_KINDS, createTestDatabase, type TestDatabase } from '../helpers/db.js';

describe.each(DATABASE_KINDS)('prepared statements (%s)', (kind) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase(kind);
  });
  afterAll(async () => database.dispose());

  it('runs a named statement on PostgreSQL, every time on every connection; on PGlite says to use Kysely', async () => {
    const text = 'select $1::int + 1 as n';
    const results = await Promise.all(Array.from({ length: 20 }, (_, k) => runPrepared(database.db, 'onetrip_test_add_one', text, [k])));
    if (kind === 'pglite') {
      expect(results.every((r) => r === null)).toBe(true);
      return;
    }
    expect(results.map((r) => r?.rowCount)).toEqual(Array.from({ length: 20 }, () => 1));
    // A transaction is a connection of its own: it runs through Kysely.
    await database.db.transaction().execute(async (trx) => {
      expect(await runPrepared(trx, 'onetrip_test_add_one', text, [1])).toBeNull();
      const { rows } = await sql<{ n: number }>`select 1 + 1 as n`.execute(trx);
      expect(rows[0]?.n).toBe(2);
    });
  });
});
