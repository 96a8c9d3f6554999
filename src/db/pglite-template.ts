import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { Kysely } from 'kysely';
import { PGliteDialect } from './pglite-dialect.js';
import type { Database } from './schema.js';
import { migrateToLatest } from './migrate.js';

/**
 * A fresh PGlite spends most of its first start in initdb (7 s here), which would keep a bare
 * `npm start` from being ready quickly. Instead it is done once, at install time: an initialised
 * and migrated data directory is dumped to a tarball, and a new database starts from it (~1 s).
 * Keyed by the PGlite version, because a data directory belongs to the Postgres that made it.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// The package does not export its package.json; read it from where node_modules keeps it.
const PGLITE_VERSION = (
  JSON.parse(readFileSync(path.join(ROOT, 'node_modules', '@electric-sql', 'pglite', 'package.json'), 'utf8')) as { version: string }
).version;

export function templatePath(name = 'pglite'): string {
  return path.join(ROOT, 'node_modules', '.cache', 'onetrip', `${name}-${PGLITE_VERSION}.tar.gz`);
}

/** The template, or null when it has not been built (the database then runs initdb itself). */
export async function readTemplate(file = templatePath()): Promise<Blob | null> {
  try {
    return new Blob([await readFile(file)]);
  } catch {
    return null;
  }
}

/** Initialises and migrates a database in memory and dumps it to `file`. */
export async function buildTemplate(file = templatePath()): Promise<void> {
  const pglite = await PGlite.create();
  const db = new Kysely<Database>({ dialect: new PGliteDialect(pglite) });
  try {
    await migrateToLatest(db);
    const dump = await pglite.dumpDataDir('gzip');
    await mkdir(path.dirname(file), { recursive: true });
    // Write then rename, so a concurrent reader never sees half a tarball.
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, Buffer.from(await dump.arrayBuffer()));
    await rename(tmp, file);
  } finally {
    await db.destroy();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const started = Date.now();
  buildTemplate()
    .then(() => console.log(`onetrip: embedded database template ready in ${Date.now() - started} ms (${templatePath()})`))
    .catch((err: unknown) => {
      // Not fatal: without a template the embedded database initialises itself on first start.
      console.warn('onetrip: could not build the embedded database template:', err instanceof Error ? err.message : err);
    });
}
