import type { DB } from '../db/index.js';
import { readSecret, recordSecretIfAbsent } from '../keys/repository.js';

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
  await recordSecretIfAbsent(db, ISSUER_ROW, options.publicUrl);
  if (options.publicUrlConfigured) return { issuer: options.publicUrl, source: 'PUBLIC_URL' };
  return { issuer: await readSecret(db, ISSUER_ROW), source: 'database' };
}
