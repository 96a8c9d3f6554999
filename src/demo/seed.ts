import type { FastifyInstance } from 'fastify';
import { generateClientSecret, hashSecret, verifySecret } from '../auth/secrets.js';
import { minimiseRecord } from '../policy/minimise.js';
import type { AdapterConfig, Role, TypeKind } from '../registry/model.js';
import { findClient, upsertClient, upsertDepartment, upsertGrant, upsertProcedure, upsertType } from '../registry/repository.js';
import {
  DEMO_CLIENTS,
  DEMO_DEPARTMENTS,
  DEMO_TYPES,
  DEMO_GRANTS,
  DEMO_PROCEDURES,
  createDemoDataset,
  demoTypeDefs,
  type DemoDataset,
  type DemoSubject,
} from './data.js';

/** One line of data/demo-credentials.json. */
export interface DemoCredential {
  clientId: string;
  clientSecret: string;
  department: string;
  roles: Role[];
}

export interface SeedOptions {
  /** How each provider department is reached; default: builtin, in this process. */
  adapterFor?: (provider: string) => AdapterConfig;
  /** Secrets handed out earlier (the previous credentials file): kept when they still match. */
  knownSecrets?: ReadonlyMap<string, string>;
}

/**
 * Seeds the demo government idempotently: departments, catalogue, procedures, grants and one
 * client per demo system. Running it again changes nothing but what the demo defines.
 */
export async function seedDemo(
  app: FastifyInstance,
  options: SeedOptions = {},
): Promise<{ credentials: DemoCredential[]; subjects: DemoSubject[] }> {
  const db = app.db;
  for (const d of DEMO_DEPARTMENTS) await upsertDepartment(db, d.code, d.name);
  for (const t of demoTypeDefs(options.adapterFor)) await upsertType(db, t);
  for (const p of DEMO_PROCEDURES) await upsertProcedure(db, p);
  for (const g of DEMO_GRANTS) await upsertGrant(db, g);

  const credentials = await Promise.all(
    DEMO_CLIENTS.map(async (c): Promise<DemoCredential> => {
      const known = options.knownSecrets?.get(c.clientId);
      const existing = await findClient(db, c.clientId);
      if (known && existing && !existing.revokedAt && (await verifySecret(known, existing.secretHash))) {
        return { ...c, roles: [...c.roles], clientSecret: known };
      }
      const clientSecret = generateClientSecret();
      await upsertClient(db, {
        clientId: c.clientId,
        department: c.department,
        roles: [...c.roles],
        secretHash: await hashSecret(clientSecret),
      });
      return { ...c, roles: [...c.roles], clientSecret };
    }),
  );
  await app.registry.reload();
  return { credentials, subjects: createDemoDataset().subjects };
}

const kindOf = (type: string): TypeKind => DEMO_TYPES.find((t) => t.type === type)?.kind ?? 'certificate';

/**
 * Serves every demo department in-process (adapter `{kind: "builtin", name: <department>}`).
 * Like a careful real provider, each answers only the fields the gateway asked for.
 */
export function registerDemoProviders(app: FastifyInstance, dataset: DemoDataset = createDemoDataset()): void {
  for (const d of DEMO_DEPARTMENTS) {
    app.adapters.registerBuiltin(d.code, (request) => {
      const record = dataset.record(request.type, request.subject.id);
      return record ? { found: true, record: minimiseRecord(kindOf(request.type), record, request.fields) } : { found: false };
    });
  }
}
