import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createDatabase, type DatabaseHandle } from '../../src/db/index.js';
import { migrateToLatest } from '../../src/db/migrate.js';

/** Every database suite runs on PGlite, and on PostgreSQL too when TEST_DATABASE_URL is set. */
export const DATABASE_KINDS: Array<'pglite' | 'postgres'> = process.env.TEST_DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];

export interface TestDatabase extends DatabaseHandle {
  /** Connection URL of the throwaway PostgreSQL database (null on PGlite). */
  url: string | null;
  /** Closes and, on PostgreSQL, drops the throwaway database. */
  dispose(): Promise<void>;
}

/**
 * A fresh, migrated database for one suite: in-memory PGlite, or a new database created next to
 * TEST_DATABASE_URL so suites never see each other's rows.
 */
export async function createTestDatabase(kind: 'pglite' | 'postgres'): Promise<TestDatabase> {
  if (kind === 'pglite') {
    const handle = await createDatabase({ url: null, pgliteDir: null });
    await migrateToLatest(handle.db);
    return { ...handle, url: null, dispose: () => handle.close() };
  }
  return createThrowawayDatabase(process.env.TEST_DATABASE_URL!, { prefix: 'onetrip_t_', poolSize: 8 });
}

/** A new, migrated PostgreSQL database next to `adminUrl`, dropped by dispose() (the tests' and the benchmarks'). */
export async function createThrowawayDatabase(
  adminUrl: string,
  options: { prefix: string; poolSize: number },
): Promise<DatabaseHandle & { url: string; dispose(): Promise<void> }> {
  const name = `${options.prefix}${randomBytes(6).toString('hex')}`;
  await withAdmin((c) => c.query(`create database ${name}`), adminUrl);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const handle = await createDatabase({ url: url.toString(), pgliteDir: null, poolSize: options.poolSize });
  await migrateToLatest(handle.db);
  return {
    ...handle,
    url: url.toString(),
    dispose: async () => {
      await handle.close();
      await withAdmin((c) => c.query(`drop database if exists ${name} with (force)`), adminUrl);
    },
  };
}

/** Runs `fn` on a connection to the admin database (TEST_DATABASE_URL unless told otherwise). */
export async function withAdmin<T>(fn: (c: pg.Client) => Promise<T>, url = process.env.TEST_DATABASE_URL!): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
