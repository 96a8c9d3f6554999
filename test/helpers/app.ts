import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, expect } from 'vitest';
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

/** A gateway for the enclosing suite, with tokens of demo clients under the names the suite calls them. */
export interface SuiteGateway<K extends string> {
  /** The gateway, once the suite's first beforeAll has started it. */
  readonly gw: TestGateway;
  readonly tokens: Readonly<Record<K, string>>;
}

/**
 * Starts a gateway (and fetches a token for each client of `tokens`) before the enclosing suite's
 * tests, in a beforeAll registered before the suite's own, and closes it after them.
 */
export function gatewayForSuite<K extends string = never>(
  kind: 'pglite' | 'postgres',
  options: GatewayOptions & { tokens?: Record<K, string> } = {},
): SuiteGateway<K> {
  let started: { gw: TestGateway; tokens: Record<K, string> } | undefined;
  beforeAll(async () => {
    const gw = await startTestGateway(kind, options);
    const named = Object.entries<string>(options.tokens ?? {});
    const tokens = Object.fromEntries(await Promise.all(named.map(async ([name, clientId]) => [name, await gw.token(clientId)])));
    started = { gw, tokens };
  });
  afterAll(async () => started?.gw.close());
  const get = () => {
    if (!started) throw new Error('the suite gateway is started in beforeAll');
    return started;
  };
  return {
    get gw() {
      return get().gw;
    },
    get tokens() {
      return get().tokens;
    },
  };
}

export interface GatewayOptions {
  env?: Record<string, string>;
  config?: Partial<Config>;
  demo?: boolean;
  logger?: object | false;
  database?: TestDatabase;
  /** Runs after the demo providers are registered, before routes (e.g. extra builtin providers). */
  beforeRoutes?: (app: FastifyInstance) => Promise<void> | void;
  /** The gateway's clock (BuildOptions.clock). */
  clock?: () => Date;
}

/** The gateway built through src/app.ts, on a fresh database, with the demo government seeded. */
export async function startTestGateway(kind: 'pglite' | 'postgres', options: GatewayOptions = {}): Promise<TestGateway> {
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
    const res = await requestToken(app, c.clientId, c.clientSecret);
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

/** POST /v1/auth/token with client credentials in the body (from `remoteAddress` if given); the answer, for the test to check. */
export function requestToken(
  app: FastifyInstance,
  clientId: string,
  clientSecret: string,
  remoteAddress?: string,
): Promise<LightMyRequestResponse> {
  return app.inject({
    method: 'POST',
    url: '/v1/auth/token',
    ...(remoteAddress === undefined ? {} : { remoteAddress }),
    payload: { grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret },
  });
}

/** A token per demo client of the suite's gateway, fetched once. */
export function tokenCache(gateway: () => TestGateway): (clientId: string) => Promise<string> {
  const tokens = new Map<string, string>();
  return async (clientId) => {
    if (!tokens.has(clientId)) tokens.set(clientId, await gateway().token(clientId));
    return tokens.get(clientId)!;
  };
}

export function problemOf(res: LightMyRequestResponse): { code: string; status: number; detail: string; requestId: string } {
  return res.json();
}

/**
 * Asserts that the open `urls` answer 200 without counting against any quota (four rounds, no
 * rate-limit headers), while the per-client quota of the gateway (RATE_LIMIT_PER_MINUTE=2) is in
 * force: `token` gets two answers from `limitedUrl`, then 429.
 */
export async function expectOutsideQuota(gw: TestGateway, urls: string[], limitedUrl: string, token: string): Promise<void> {
  for (let i = 0; i < 4; i += 1) {
    for (const url of urls) {
      const res = await gw.app.inject({ url });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['x-ratelimit-limit'], url).toBeUndefined();
    }
  }
  const statuses: number[] = [];
  for (let i = 0; i < 3; i += 1) {
    statuses.push((await gw.app.inject({ url: limitedUrl, headers: { authorization: `Bearer ${token}` } })).statusCode);
  }
  expect(statuses).toEqual([200, 200, 429]);
}
