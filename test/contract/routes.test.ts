import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { registerDemoProviders } from '../../src/demo/seed.js';
import { testConfig } from '../helpers/app.js';
import { documentedOperations, isDocsAsset, toDocumentPath } from '../helpers/contract.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

/**
 * Every route in `app.printRoutes({ commonPrefix: false })`, as `METHOD /url`. The tree is the only
 * public view of routes that plugins add before `beforeRoutes` runs (e.g. /metrics); the onRoute
 * collector below checks this parser against Fastify's own hook for everything added after.
 */
function printedRoutes(app: FastifyInstance): Set<string> {
  const routes = new Set<string>();
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^((?:│ {3}| {4})*)[├└]── (.+?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = (m[1] ?? '').length / 4;
    stack.length = depth;
    stack.push(m[2] ?? '');
    for (const method of (m[3] ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean))
      routes.add(`${method} ${stack.join('')}`);
  }
  return routes;
}

const isOperation = (route: string) => {
  const [method, url = ''] = route.split(' ');
  return method !== 'HEAD' && !isDocsAsset(url);
};

describe('routes ↔ openapi/gateway.yaml', () => {
  let app: FastifyInstance;
  let db: TestDatabase;
  const hooked = new Set<string>();

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    app = await buildApp(testConfig(), {
      database: db,
      migrate: false,
      logger: false,
      beforeRoutes: async (instance) => {
        instance.addHook('onRoute', (route) => {
          for (const method of [route.method].flat()) hooked.add(`${method} ${route.url}`);
        });
        registerDemoProviders(instance);
      },
    });
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await db?.dispose();
  });

  /** Registered operations as `METHOD /path/{param}`: the printed table plus whatever the hook saw. */
  const registered = () =>
    [...new Set([...printedRoutes(app), ...hooked])].filter(isOperation).map((r) => {
      const [method, url = ''] = r.split(' ');
      return `${method} ${toDocumentPath(url)}`;
    });

  it('reads the route table completely (checked against the onRoute hook)', () => {
    const printed = printedRoutes(app);
    expect([...hooked].filter((r) => isOperation(r) && !printed.has(r))).toEqual([]);
    expect(printed.has('GET /metrics') || printed.has('GET /healthz')).toBe(true);
  });

  it('documents every registered route', () => {
    const documented = new Set(documentedOperations(app.openapi));
    expect(
      registered()
        .filter((op) => !documented.has(op))
        .sort(),
    ).toEqual([]);
  });

  it('registers every documented operation', () => {
    const missing = documentedOperations(app.openapi).filter((op) => {
      const [method = '', path = ''] = op.split(' ');
      return !app.hasRoute({ method: method as 'GET', url: path.replace(/\{([^}]+)\}/g, ':$1') });
    });
    expect(missing.sort()).toEqual([]);
  });

  it('keeps the swagger UI assets under /docs/ and nothing else undocumented there', () => {
    expect([...printedRoutes(app)].filter((r) => r.startsWith('GET /docs'))).toContain('GET /docs');
    expect(documentedOperations(app.openapi).filter((op) => isDocsAsset(op.split(' ')[1] ?? ''))).toEqual([]);
  });
});
