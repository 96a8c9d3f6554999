import type { DB } from '../db/index.js';

/** The `gateway_secrets` row that holds the issuer shared by replicas started without PUBLIC_URL. */
const ISSUER_ROW = 'issuer';

export interface ResolvedIssuer {
  issuer: string;
  /** Where it came from, for the startup log. */
  source: 'PUBLIC_URL' | 'database' | 'listen address';
}

/**
 * The token and proof issuer (`iss`) of this replica (issue 10.4).
 * - PUBLIC_URL set: that, and it is recorded for replicas started without it if none is recorded yet.
 * - PUBLIC_URL unset, on PostgreSQL: the issuer the first replica recorded in the database, so every
 *   replica accepts every other's tokens; the first records its own `http://HOST:PORT`.
 * - PUBLIC_URL unset, on the embedded database (one process): `http://HOST:PORT`, as before.
 */
export async function resolveIssuer(
  db: DB,
  options: { publicUrl: string; publicUrlConfigured: boolean; sharedDatabase: boolean },
): Promise<ResolvedIssuer> {
  if (!options.sharedDatabase) {
    return { issuer: options.publicUrl, source: options.publicUrlConfigured ? 'PUBLIC_URL' : 'listen address' };
  }
  await db
    .insertInto('gateway_secrets')
    .values({ name: ISSUER_ROW, value: options.publicUrl })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
  if (options.publicUrlConfigured) return { issuer: options.publicUrl, source: 'PUBLIC_URL' };
  const row = await db.selectFrom('gateway_secrets').select('value').where('name', '=', ISSUER_ROW).executeTakeFirstOrThrow();
  return { issuer: row.value, source: 'database' };
}
