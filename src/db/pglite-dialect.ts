import type { PGlite } from '@electric-sql/pglite';
import {
  CompiledQuery,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  type QueryResult,
  type TransactionSettings,
} from 'kysely';
import pg from 'pg';
import pgUtils from 'pg/lib/utils.js';
import { serialize, type DatabaseError } from 'pg-protocol';
import type { BackendMessage, CommandCompleteMessage, DataRowMessage, RowDescriptionMessage } from 'pg-protocol/dist/messages.js';
import { Parser } from 'pg-protocol/dist/parser.js';

/**
 * Kysely dialect for the embedded PGlite database. PGlite is a single connection, so the
 * driver hands it to one borrower at a time: a transaction holds it until it commits.
 */
export class PGliteDialect implements Dialect {
  constructor(private readonly pglite: PGlite) {}
  createAdapter() {
    return new PostgresAdapter();
  }
  createDriver(): Driver {
    return new PGliteDriver(this.pglite);
  }
  createQueryCompiler() {
    return new PostgresQueryCompiler();
  }
  createIntrospector(db: Kysely<unknown>) {
    return new PostgresIntrospector(db);
  }
}

/**
 * PGlite's own protocol reader decodes every text value with a default `TextDecoder`, which drops a
 * leading U+FEFF (BOM) from each value: a string that starts with a BOM is stored intact but read
 * back without it (issue 9: a refused request with such a `caseId` made the audit chain look
 * tampered). So this connection speaks the wire protocol to PGlite itself, with node-postgres's
 * serializer and parser (which decode with `Buffer#toString`, keeping every code point), and
 * converts parameters and results exactly as the `pg` pool does on PostgreSQL: both databases
 * then hand the application the same values.
 */
class PGliteConnection implements DatabaseConnection {
  constructor(private readonly pglite: PGlite) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    // Without parameters use the simple protocol, which (like pg) accepts several statements.
    const request =
      query.parameters.length === 0
        ? serialize.query(query.sql)
        : Buffer.concat([
            serialize.parse({ text: query.sql, types: [] }),
            serialize.bind({ values: query.parameters.map((v) => prepareValue(v)) }),
            serialize.describe({ type: 'P' }),
            serialize.execute({}),
            serialize.sync(),
          ]);
    const raw = await this.pglite.runExclusive(() => this.pglite.execProtocolRaw(request));
    return readResult<R>(raw);
  }

  async *streamQuery<R>(query: CompiledQuery, chunkSize = 1000): AsyncIterableIterator<QueryResult<R>> {
    // PGlite has no cursors over its wire; callers that stream page by keyset instead.
    const result = await this.executeQuery<R>(query);
    for (let i = 0; i < result.rows.length; i += chunkSize) yield { rows: result.rows.slice(i, i + chunkSize) };
  }
}

/** The last statement's rows (as pg's pool gives them) or the first error, from one protocol exchange. */
function readResult<R>(raw: Uint8Array): QueryResult<R> {
  let columns: Array<{ name: string; parse: (v: string) => unknown }> = [];
  let rows: R[] = [];
  let last: QueryResult<R> = { rows: [] };
  let error: DatabaseError | null = null;
  new Parser().parse(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength), (message: BackendMessage) => {
    switch (message.name) {
      case 'rowDescription':
        columns = (message as RowDescriptionMessage).fields.map((f) => ({ name: f.name, parse: textTypeParser(f.dataTypeID) }));
        break;
      case 'dataRow': {
        const row: Record<string, unknown> = {};
        (message as DataRowMessage).fields.forEach((v, i) => {
          const column = columns[i]!;
          row[column.name] = v === null ? null : column.parse(v);
        });
        rows.push(row as R);
        break;
      }
      case 'commandComplete': {
        // Each statement ends here; like PGlite's exec and pg, the last one's result is the answer.
        const words = (message as CommandCompleteMessage).text.split(' ');
        const affected = /^(INSERT|UPDATE|DELETE|MERGE)$/.test(words[0] ?? '') ? BigInt(words.at(-1) ?? 0) : undefined;
        last = affected === undefined ? { rows } : { rows, numAffectedRows: affected };
        rows = [];
        columns = [];
        break;
      }
      case 'error':
        error ??= message as DatabaseError;
        break;
      default:
    }
  });
  if (error) throw error;
  return last;
}

/** Type parsers as the pg pool uses them (src/db/index.ts): pg-types, with int8 read as a number. */
export function textTypeParser(oid: number): (value: string) => unknown {
  return oid === INT8_OID ? (v: string) => Number(v) : (pg.types.getTypeParser(oid, 'text') as (v: string) => unknown);
}

const INT8_OID = 20;
const { prepareValue } = pgUtils;

class PGliteDriver implements Driver {
  private readonly connection: PGliteConnection;
  private busy = false;
  private readonly waiters: Array<(c: PGliteConnection) => void> = [];

  constructor(private readonly pglite: PGlite) {
    this.connection = new PGliteConnection(pglite);
  }

  async init(): Promise<void> {
    await this.pglite.waitReady;
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    if (!this.busy) {
      this.busy = true;
      return this.connection;
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  async releaseConnection(): Promise<void> {
    const next = this.waiters.shift();
    if (next) next(this.connection);
    else this.busy = false;
  }

  async beginTransaction(conn: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    const level = settings.isolationLevel ? ` isolation level ${settings.isolationLevel}` : '';
    await conn.executeQuery(CompiledQuery.raw(`begin${level}`));
  }

  async commitTransaction(conn: DatabaseConnection): Promise<void> {
    await conn.executeQuery(CompiledQuery.raw('commit'));
  }

  async rollbackTransaction(conn: DatabaseConnection): Promise<void> {
    await conn.executeQuery(CompiledQuery.raw('rollback'));
  }

  async destroy(): Promise<void> {
    await this.pglite.close();
  }
}
