import { sql } from 'kysely';
import type { DB } from '../db/index.js';

/** What /readyz reports about the database. */
export interface Readiness {
  database: 'ok' | 'unreachable';
  migrations: 'ok' | 'pending' | 'unknown';
}

/**
 * The readiness checks: the database answers a query, and every migration has been applied
 * (`migrationsCurrent` is the db plugin's settled check, src/plugins/db.ts).
 */
export async function readiness(db: DB, migrationsCurrent: () => Promise<boolean>): Promise<Readiness> {
  try {
    await sql`select 1`.execute(db);
    return { database: 'ok', migrations: (await migrationsCurrent()) ? 'ok' : 'pending' };
  } catch {
    return { database: 'unreachable', migrations: 'unknown' };
  }
}
