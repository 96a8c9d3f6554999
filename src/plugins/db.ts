import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { createDatabase, type DatabaseHandle, type DB } from '../db/index.js';
import { migrateToLatest, migrationsCurrent } from '../db/migrate.js';

export interface DbPluginOptions {
  /** An already open database (tests share one per suite); otherwise one is opened from config. */
  database?: DatabaseHandle;
  migrate: boolean;
}

async function dbPlugin(app: FastifyInstance, opts: DbPluginOptions) {
  const database =
    opts.database ??
    (await createDatabase({
      url: app.config.databaseUrl,
      pgliteDir: app.config.pgliteDir,
      onConnectionError: (err) => app.log.warn({ err }, 'a database connection was lost; requests using it answer 503'),
    }));
  if (opts.migrate) await migrateToLatest(database.db);
  app.decorate('db', database.db);
  app.decorate('dbKind', database.kind);
  let current = false;
  app.decorate('dbReady', async () => {
    // Migrations only move forward while running, so once current the check is settled.
    if (!current) current = await migrationsCurrent(database.db);
    return current;
  });
  // A database passed in belongs to the caller, who closes it.
  if (!opts.database) app.addHook('onClose', async () => database.close());
}

declare module 'fastify' {
  interface FastifyInstance {
    db: DB;
    dbKind: DatabaseHandle['kind'];
    dbReady(): Promise<boolean>;
  }
}

export default fp(dbPlugin, { name: 'db', fastify: '5.x', dependencies: ['config'] });
