import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { OPENAPI_DIR } from '../../src/openapi.js';
import { DATABASE_KINDS } from '../helpers/db.js';
import { expectOutsideQuota, gatewayForSuite } from '../helpers/app.js';

/** Every `src`/`href` of an HTML page. */
const references = (html: string) => [...html.matchAll(/\b(?:src|href)\s*=\s*["']([^"']+)["']/g)].map((m) => m[1] ?? '');

describe.each(DATABASE_KINDS)('GET /openapi.json and GET /docs on %s', (kind) => {
  // A tiny quota, so a docs route that counted against it would be refused within the test.
  const suite = gatewayForSuite(kind, { env: { RATE_LIMIT_PER_MINUTE: '2' } });

  it('serves openapi/gateway.yaml as JSON, unchanged but for `servers`, which names this gateway', async () => {
    const res = await suite.gw.app.inject({ url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const fromDisk = parse(await readFile(path.join(OPENAPI_DIR, 'gateway.yaml'), 'utf8'));
    expect(res.json()).toEqual({ ...fromDisk, servers: [{ url: 'http://gateway.test', description: 'This gateway' }] });
    expect(res.json().openapi).toMatch(/^3\.1\./);
  });

  it('renders the reference at /docs from local assets only (no CDN)', async () => {
    const res = await suite.gw.app.inject({ url: '/docs' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    const refs = references(res.body);
    expect(refs.length).toBeGreaterThan(3);
    for (const ref of refs) {
      expect(ref, `${ref} must be a path on this gateway`).toMatch(/^\/docs\/[^/]/);
      const asset = await suite.gw.app.inject({ url: ref });
      expect(asset.statusCode, ref).toBe(200);
    }
    const init = await suite.gw.app.inject({ url: '/docs/static/swagger-initializer.js' });
    expect(init.statusCode).toBe(200);
    // Comments and inline data: URIs (the logo) fetch nothing; any other absolute URL would leave the gateway.
    const code = init.body.replace(/^\s*\/\/.*$/gm, '').replace(/'data:[^']*'/g, "''");
    const external = code.match(/(?:https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}/gi);
    expect(external).toBeNull();
    // The UI loads the same document as /openapi.json.
    const uiDocument = await suite.gw.app.inject({ url: '/docs/json' });
    expect(uiDocument.json()).toEqual((await suite.gw.app.inject({ url: '/openapi.json' })).json());
  });

  it('does not count the contract and the reference against the quota', async () => {
    const reference = ['/openapi.json', '/docs', '/docs/', '/docs/static/swagger-ui.css', '/docs/json'];
    // …while the quota itself is in force on this gateway.
    await expectOutsideQuota(suite.gw, reference, '/v1/catalog', await suite.gw.token('housing-fund-window'));
  });
});
