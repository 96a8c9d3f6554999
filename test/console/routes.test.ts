import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONSOLE_CSP, CONSOLE_PUBLIC_DIR } from '../../src/console/plugin.js';
import { expectOutsideQuota, gatewayForSuite } from '../helpers/app.js';
import { DATABASE_KINDS } from '../helpers/db.js';

/** Every `src`/`href` of an HTML page. */
const references = (html: string) => [...html.matchAll(/\b(?:src|href)\s*=\s*["']([^"']+)["']/g)].map((m) => m[1] ?? '');

/** Every file of the console, relative to its public folder. */
async function consoleFiles(dir = CONSOLE_PUBLIC_DIR, prefix = ''): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(
    entries.map((e) => (e.isDirectory() ? consoleFiles(path.join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`])),
  );
  return nested.flat();
}

describe.each(DATABASE_KINDS)('GET /console and its files on %s', (kind) => {
  // A tiny quota, so a console route that counted against it would be refused within the test.
  const suite = gatewayForSuite(kind, { env: { RATE_LIMIT_PER_MINUTE: '2' } });

  it('serves the page with a strict CSP and only same-origin references', async () => {
    for (const url of ['/console', '/console/']) {
      const res = await suite.gw.app.inject({ url });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.headers['content-security-policy']).toBe(CONSOLE_CSP);
      expect(CONSOLE_CSP).toMatch(/^default-src 'self';/);
      expect(CONSOLE_CSP).not.toMatch(/unsafe|https?:|\*/);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      const refs = references(res.body);
      expect(refs.length).toBeGreaterThanOrEqual(3);
      for (const ref of refs) expect(ref, ref).toMatch(/^\/console\/[^/]/);
    }
  });

  it('has no inline script, inline style or third-party URL in any file', async () => {
    for (const file of await consoleFiles()) {
      const text = await readFile(path.join(CONSOLE_PUBLIC_DIR, file), 'utf8');
      if (file.endsWith('.html')) {
        expect(text, file).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/i);
        expect(text, file).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
      }
      const urls = text.match(/(?:https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}/gi) ?? [];
      expect(
        urls.filter((u) => !u.includes('www.w3.org')),
        file,
      ).toEqual([]);
      // No filter, token or subject goes to browser storage or the address bar.
      expect(text, file).not.toMatch(
        /localStorage|sessionStorage|document\.cookie|history\.(push|replace)State|location\.(hash|search)\s*=/,
      );
    }
  });

  it('serves every file of the console and ECharts from its npm package, with the CSP', async () => {
    for (const file of await consoleFiles()) {
      const res = await suite.gw.app.inject({ url: `/console/${file}` });
      expect(res.statusCode, file).toBe(200);
      expect(res.headers['content-security-policy'], file).toBe(CONSOLE_CSP);
      if (file.endsWith('.js')) expect(res.headers['content-type'], file).toMatch(/javascript/);
    }
    const echarts = await suite.gw.app.inject({ url: '/console/vendor/echarts.min.js' });
    expect(echarts.statusCode).toBe(200);
    expect(echarts.headers['content-type']).toMatch(/javascript/);
    expect(echarts.body).toMatch(/echarts/);
    expect(echarts.body.length).toBeGreaterThan(500_000);
  });

  it('answers a missing file or a way out of the folder with a problem, never a file', async () => {
    for (const url of ['/console/nothing.js', '/console/../package.json', '/console/%2e%2e/package.json', '/console/vendor/echarts.js']) {
      const res = await suite.gw.app.inject({ url });
      expect([403, 404], url).toContain(res.statusCode);
      expect(res.body, url).not.toContain('"name": "onetrip"');
    }
  });

  it('revalidates with an ETag (304)', async () => {
    const first = await suite.gw.app.inject({ url: '/console' });
    const etag = first.headers['etag'];
    expect(etag).toBeTruthy();
    const again = await suite.gw.app.inject({ url: '/console', headers: { 'if-none-match': String(etag) } });
    expect(again.statusCode).toBe(304);
  });

  it('does not count the console against any quota', async () => {
    const files = ['/console', '/console/', '/console/js/main.js', '/console/style.css', '/console/vendor/echarts.min.js'];
    await expectOutsideQuota(suite.gw, files, '/v1/audit/verify', await suite.gw.token('audit-office'));
  });
});
