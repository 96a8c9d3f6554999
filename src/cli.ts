/**
 * Operator commands: `npm run cli -- <command> [options]`.
 * Each command is one entry of COMMANDS; it opens only what it needs (a command that reads a
 * file offline never touches the database) and returns the process exit code.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { AUDIT_COMMANDS } from './audit/commands.js';
import { loadConfig } from './config.js';
import { withDatabase, type CliContext, type Command } from './cli-context.js';
import { migrateToLatest } from './db/migrate.js';
import { KeyRing } from './keys/keyring.js';
import { CLIENT_COMMANDS } from './registry/commands.js';

/** How long a retired key stays in the JWKS by default: proofs must stay checkable for a year and more. */
export const DEFAULT_KEEP_PUBLISHED_DAYS = 400;

const COMMANDS: Record<string, Command> = {
  migrate: {
    usage: 'migrate',
    summary: 'apply pending database migrations',
    async run(_args, ctx) {
      const result = await withDatabase(ctx, ({ db }) => migrateToLatest(db));
      const applied = (result.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
      ctx.out(applied.length > 0 ? `applied: ${applied.join(', ')}` : 'database is up to date');
      return 0;
    },
  },
  'keys rotate': {
    usage: `keys rotate [--keep-days N]   (default ${DEFAULT_KEEP_PUBLISHED_DAYS})`,
    summary: 'make a new signing key current; the old one stays in the JWKS for N days so its proofs still verify',
    async run(args, ctx) {
      const { values } = parseArgs({ args, options: { 'keep-days': { type: 'string' } }, strict: true });
      const keepDays = values['keep-days'] === undefined ? DEFAULT_KEEP_PUBLISHED_DAYS : Number(values['keep-days']);
      if (!Number.isInteger(keepDays) || keepDays < 1) throw new Error('--keep-days must be a positive whole number of days');
      const kid = await withDatabase(ctx, async ({ db }) => {
        const keyring = new KeyRing(db);
        await keyring.load();
        return keyring.rotate(keepDays);
      });
      // Replicas pick the new key up within a minute (src/plugins/keys.ts).
      ctx.out(`new signing key ${kid}; retired keys stay published for ${keepDays} days`);
      return 0;
    },
  },
  ...CLIENT_COMMANDS,
  ...AUDIT_COMMANDS,
};

function usage(): string {
  const lines = Object.values(COMMANDS).map((c) => `  ${c.usage}\n      ${c.summary}`);
  return `usage: npm run cli -- <command>\n\ncommands:\n${lines.join('\n')}`;
}

/** Finds the longest command name that prefixes argv (commands may be two words: `keys rotate`). */
export function findCommand(argv: readonly string[]): { name: string; args: string[] } | undefined {
  for (let words = Math.min(argv.length, 3); words > 0; words -= 1) {
    const name = argv.slice(0, words).join(' ');
    if (Object.hasOwn(COMMANDS, name)) return { name, args: argv.slice(words) };
  }
  return undefined;
}

/** Runs one command and returns its exit code; unknown commands print the usage. */
export async function runCli(argv: readonly string[], ctx: CliContext): Promise<number> {
  const found = findCommand(argv);
  const command = found && COMMANDS[found.name];
  if (!found || !command) {
    ctx.out(usage());
    return argv.length === 0 || argv[0] === 'help' || argv[0] === '--help' ? 0 : 2;
  }
  return command.run(found.args, ctx);
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href;
if (invokedDirectly) {
  runCli(process.argv.slice(2), { config: loadConfig(), out: (line) => console.log(line) }).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
}
