import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import { registerDemoProviders, seedDemo, type DemoCredential } from '../../src/demo/seed.js';
import { ContractRecorder } from './contract.js';
import type { DemoSubject } from '../../src/demo/data.js';
import { createTestDatabase, type TestDatabase } from './db.js';

export interface TestGateway {
  app: FastifyInstance;
  db: TestDatabase;
  credentials: DemoCredential[];
  subjects: DemoSubject[];
  /** Every answer is checked against openapi/gateway.yaml; close() fails on any violation. */
  contract: ContractRecorder;
  /** A fresh access token for a demo client. */
  token(clientId: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * Config for tests: silent logs, immediate audit flushes, everything else as documented defaults —
 * except ADAPTER_ALLOWED_PORTS, which admits the unprivileged ports because fake providers listen
 * on ephemeral ones (the default is tested in test/adapters/allowed-hosts.test.ts).
 */
export function testConfig(env: Record<string, string> = {}, overrides: Partial<Config> = {}): Readonly<Config> {
  return loadConfig(
    {
      LOG_LEVEL: 'silent',
      AUDIT_FLUSH_INTERVAL_MS: '0',
      DATA_DIR: '/nonexistent',
      PUBLIC_URL: 'http://gateway.test',
      ADAPTER_ALLOWED_PORTS: '1024-65535',
      ...env,
    },
    { pgliteDir: null, ...overrides },
  );
}

/** The gateway built through src/app.ts, on a fresh database, with the demo government seeded. */
export async function startTestGateway(
  kind: 'pglite' | 'postgres',
  options: {
    env?: Record<string, string>;
    config?: Partial<Config>;
    demo?: boolean;
    logger?: object | false;
    database?: TestDatabase;
    /** Runs after the demo providers are registered, before routes (e.g. extra builtin providers). */
    beforeRoutes?: (app: FastifyInstance) => Promise<void> | void;
    /** The gateway's clock (BuildOptions.clock). */
    clock?: () => Date;
  } = {},
): Promise<TestGateway> {
  const db = options.database ?? (await createTestDatabase(kind));
  const config = testConfig(options.env, { databaseUrl: db.url, ...options.config });
  const demo = options.demo ?? true;
  const contract = new ContractRecorder();
  const app = await buildApp(config, {
    database: db,
    migrate: false,
    logger: options.logger ?? false,
    ...(options.clock ? { clock: options.clock } : {}),
    beforeRoutes: async (instance) => {
      contract.attach(instance);
      if (demo) registerDemoProviders(instance);
      await options.beforeRoutes?.(instance);
    },
  });
  await app.ready();
  const seeded = demo ? await seedDemo(app) : { credentials: [], subjects: [] };
  const token = async (clientId: string) => {
    const c = seeded.credentials.find((x) => x.clientId === clientId);
    if (!c) throw new Error(`no demo client ${clientId}`);
    const res = await app.inject({
      method: 'POST',
      url: '/v1/auth/token',
      payload: { grant_type: 'client_credentials', client_id: c.clientId, client_secret: c.clientSecret },
    });
    if (res.statusCode !== 200) throw new Error(`token for ${clientId}: ${res.statusCode} ${res.body}`);
    return (res.json() as { access_token: string }).access_token;
  };
  return {
    app,
    db,
    credentials: seeded.credentials,
    subjects: seeded.subjects,
    contract,
    token,
    close: async () => {
      await app.close();
      if (!options.database) await db.dispose();
      contract.assertNoViolations();
    },
  };
}

export function problemOf(res: LightMyRequestResponse): { code: string; status: number; detail: string; requestId: string } {
  return res.json();
}
