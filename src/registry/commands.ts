/**
 * `npm run cli -- clients create …`: the operator's way in on a fresh database, before any admin
 * client exists (with DEMO off nothing is seeded). The change is audited like an API change.
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { AuditWriter } from '../audit/writer.js';
import { withDatabase, type Command } from '../cli-context.js';
import { issueClient, newClientId } from './clients.js';
import { ROLES, type Role } from './model.js';
import { findDepartment, upsertDepartment } from './repository.js';

const CODE = /^[a-z0-9]+(-[a-z0-9]+)*$/;

export const CLIENT_COMMANDS: Record<string, Command> = {
  'clients create': {
    usage: 'clients create --department CODE --roles admin[,auditor,...] [--name-zh 名称 --name-en NAME]',
    summary: 'issue a client (the secret is printed once); with names, create the department first if it is new',
    async run(args, ctx) {
      const { values } = parseArgs({
        args,
        options: {
          department: { type: 'string' },
          roles: { type: 'string' },
          'name-zh': { type: 'string' },
          'name-en': { type: 'string' },
        },
        strict: true,
      });
      const department = values.department ?? '';
      if (!CODE.test(department)) throw new Error('--department must be a kebab-case department code');
      const roles = (values.roles ?? '').split(',').filter(Boolean);
      const unknown = roles.filter((r) => !ROLES.includes(r as Role));
      if (roles.length === 0 || unknown.length > 0) throw new Error(`--roles must list some of ${ROLES.join(', ')}`);

      const issued = await withDatabase(ctx, async ({ db }) => {
        const exists = await findDepartment(db, department);
        if (!exists) {
          if (!values['name-zh'] || !values['name-en'])
            throw new Error(`department ${department} does not exist: give --name-zh and --name-en to create it`);
          await upsertDepartment(db, department, { zh: values['name-zh'], en: values['name-en'] });
        }
        const writer = new AuditWriter(db, { maxEvents: 10, intervalMs: 0, logger: { error: () => {}, warn: () => {} } });
        const clientId = newClientId(department);
        const event = (resource: string, key: string) =>
          writer.append({
            id: randomUUID(),
            time: new Date().toISOString(),
            requestId: `cli-${randomUUID()}`,
            consumer: null,
            clientId: null,
            officer: null,
            action: 'admin.change',
            type: null,
            provider: null,
            subjectKind: null,
            subjectHmac: null,
            subjectMasked: null,
            purpose: null,
            caseId: null,
            fields: [],
            outcome: 'ok',
            errorCode: null,
            latencyMs: 0,
            recordDigest: null,
            detail: { resource, key, change: 'created', via: 'cli' },
          });
        // Audited before it exists, as the admin API does: no change without its event.
        if (!exists) await event('department', department);
        await event('client', clientId);
        await writer.close();
        return issueClient(db, clientId, department, roles as Role[]);
      });
      ctx.out(JSON.stringify(issued, null, 2));
      return 0;
    },
  },
};
