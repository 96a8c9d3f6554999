import { access, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { PGliteDialect } from './pglite-dialect.js';
import { readTemplate } from './pglite-template.js';
import type { Database } from './schema.js';

// Three names, one meaning each (issue 11.7): `Database` is the schema (the tables Kysely knows),
// `DB` the query builder over it (a `db` value), `DatabaseHandle` an open database with its
// kind and its close (a `database` value).
export type { Database } from './schema.js';
export type DB = Kysely<Database>;

/** The pg pool under each PostgreSQL database (not under PGlite, nor a transaction). */
const pools = new WeakMap<DB, pg.Pool>();

/**
 * Runs a statement of fixed text as a named prepared statement on PostgreSQL: parsed and planned
 * once per connection instead of on every call (pg sends Parse only the first time a connection
 * sees the name). Null where that is not available (PGlite, a transaction): run it through Kysely.
 * For the few statements on the hot path, such as the audit writer's batch insert (issue 12).
 */
export async function runPrepared(db: DB, name: string, text: string, values: unknown[]): Promise<{ rowCount: number | null } | null> {
  const pool = pools.get(db);
  if (pool === undefined) return null;
  const result = await pool.query({ name, text, values });
  return { rowCount: result.rowCount };
}

export interface DatabaseHandle {
  db: DB;
  kind: 'postgres' | 'pglite';
  /** Closes the pool (or the embedded database). */
  close(): Promise<void>;
}

const INT8_OID = 20;

export interface DatabaseOptions {
  /** A postgres:// URL; null selects the embedded PGlite database. */
  url: string | null;
  /** PGlite directory; null keeps it in memory. */
  pgliteDir: string | null;
  poolSize?: number;
  /** Initialised data directory to start a new PGlite database from (see pglite-template.ts). */
  template?: Blob | null;
  /** Told of a lost connection (PostgreSQL); the query that used it has already failed. */
  onConnectionError?: (err: Error) => void;
}

async function hasDataDir(dir: string): Promise<boolean> {
  return access(path.join(dir, 'PG_VERSION')).then(
    () => true,
    () => false,
  );
}

export async function createDatabase(options: DatabaseOptions): Promise<DatabaseHandle> {
  if (options.url) {
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: 2000,
      // Sequence numbers and counts are int8; they stay far below 2^53, so read them as numbers
      // (PGlite does the same), per pool rather than through pg's global type registry.
      types: {
        getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
          oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
      },
    });
    // A connection lost under load (failover, pg_terminate_backend, a cut network) must never end
    // the process (issue 10). pg-pool listens for 'error' only on idle clients and removes that
    // listener while a client is checked out (Kysely holds one for each query and transaction);
    // an 'error' emitted then has no listener and is thrown as an uncaught exception. So every
    // client gets a listener of its own for its whole life: the query in flight is rejected by pg
    // itself, the caller answers 503, and the pool discards the client when it is released
    // (it is no longer queryable).
    const onError = options.onConnectionError ?? (() => undefined);
    // The pool re-emits an idle client's error, already reported by the client's own listener.
    pool.on('error', () => undefined);
    pool.on('connect', (client) => {
      client.on('error', (err) => onError(err));
    });
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    pools.set(db, pool);
    return { db, kind: 'postgres', close: () => db.destroy() };
  }
  const fresh = options.pgliteDir === null || !(await hasDataDir(options.pgliteDir));
  const template = fresh ? (options.template ?? (await readTemplate())) : null;
  if (options.pgliteDir) await mkdir(options.pgliteDir, { recursive: true });
  const pglite = await PGlite.create(options.pgliteDir ?? undefined, template ? { loadDataDir: template } : {});
  const db = new Kysely<Database>({ dialect: new PGliteDialect(pglite) });
  return { db, kind: 'pglite', close: () => db.destroy() };
}
