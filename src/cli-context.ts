import type { Config } from './config.js';
import { createDatabase, type DatabaseHandle } from './db/index.js';

/** What an operator command gets: config, an output sink, and (in tests) an open database. */
export interface CliContext {
  config: Readonly<Config>;
  /** Where results go (stdout in the shell, a buffer in tests). */
  out: (line: string) => void;
  /** An open database to use instead of opening one from config (tests); the caller closes it. */
  database?: DatabaseHandle;
}

/** One entry of the command table in src/cli.ts; `run` returns the process exit code. */
export interface Command {
  usage: string;
  summary: string;
  run(args: string[], ctx: CliContext): Promise<number>;
}

/**
 * Runs `fn` with the context's database, or with one opened from config and closed afterwards.
 * The embedded database is a directory one process may open at a time: stop the gateway first.
 */
export async function withDatabase<T>(ctx: CliContext, fn: (database: DatabaseHandle) => Promise<T>): Promise<T> {
  if (ctx.database) return fn(ctx.database);
  const database = await createDatabase({ url: ctx.config.databaseUrl, pgliteDir: ctx.config.pgliteDir });
  try {
    return await fn(database);
  } finally {
    await database.close();
  }
}
