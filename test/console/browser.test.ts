import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/app.js';

/**
 * The console in a real browser (issue 14): headless Chromium (Debian's `chromium`, installed by
 * .ci/run) driven by puppeteer-core against a gateway listening on an ephemeral port.
 *
 * Runs once, on PGlite only: the console is a client of the public API and adds no database code;
 * every route it calls is covered on both databases by the API suites. A second browser run on
 * PostgreSQL would double the slowest suite without testing anything new.
 */
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
if (!CHROMIUM)
  console.warn(
    'test/console/browser.test.ts: SKIPPED — no chromium binary at /usr/bin/chromium (apt-get install chromium; .ci/run installs it)',
  );

// The callbacks given to page.evaluate run in the browser. This project compiles without the DOM
// library (tsconfig), so the few browser globals they touch are declared loosely, in this file only.
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const window: any;
declare const document: any;
declare const localStorage: { length: number };
declare const sessionStorage: { length: number };
type BrowserElement = any;
type BrowserEvent = any;
/* eslint-enable @typescript-eslint/no-explicit-any */

const ARTIFACTS = path.resolve('test-artifacts');
const TOKEN_TTL_SECONDS = 8;
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

describe.skipIf(!CHROMIUM)('the console in headless Chromium (PGlite)', () => {
  let gw: TestGateway;
  let base: string;
  let browser: Browser;
  let page: Page;
  let profileDir: string;
  let downloadDir: string;
  const caseId = `CONSOLE-${randomUUID().slice(0, 8)}`;
  const external: string[] = [];
  /** The bearer token of every API request the page made, and every token request, in order. */
  const bearers: string[] = [];
  let tokenRequests = 0;
  const consoleErrors: string[] = [];
  /** Network errors the test provokes on purpose (wrong credentials), by URL path and status. */
  const expectedNetworkErrors: string[] = [];
  const credential = (role: string) => {
    const c = gw.credentials.find((x) => x.roles.includes(role as never));
    if (!c) throw new Error(`no demo ${role} client`);
    return c;
  };
  const person = () => {
    const s = gw.subjects.find((x) => x.kind === 'person' && x.holds.includes('household-registration'));
    if (!s) throw new Error('no demo person with a household registration');
    return s;
  };

  async function axeScan(name: string) {
    await page.evaluate(AXE_SOURCE); // through DevTools, not a <script>: the page's CSP stays as it is
    const violations = await page.evaluate(async () => {
      const result = await (window.axe as { run: (ctx: unknown, o: object) => Promise<{ violations: AxeViolation[] }> }).run(document, {
        resultTypes: ['violations'],
      });
      return result.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        nodes: v.nodes.map((n) => ({ target: n.target })),
      }));
    });
    const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    expect(serious.map((v) => `${name}: ${v.id} (${v.impact}) ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual(
      [],
    );
  }

  const shot = (name: string, fullPage = true) => page.screenshot({ path: path.join(ARTIFACTS, `console-${name}.png`), fullPage });
  const trailSeqs = () => page.$$eval('#trail-table tbody tr td:first-child', (tds) => tds.map((td) => Number(td.textContent)));
  /** Submits the search form and waits for the search's answer; its request body. */
  async function search(): Promise<Record<string, unknown>> {
    // Mark what is shown now; the answer replaces it with a new table or notice.
    await page.$eval('#trail-results > *', (el) => void (el as BrowserElement).setAttribute('data-stale', ''));
    const answered = page.waitForResponse((r) => r.url() === `${base}/v1/audit/search` && r.request().method() === 'POST');
    await page.click('#search-form button[type=submit]');
    const response = await answered;
    expect(response.status()).toBe(200);
    await page.waitForSelector('#trail-results > :not([data-stale])');
    return JSON.parse(response.request().postData() ?? '{}');
  }

  async function signIn(role: 'auditor' | 'portal') {
    const c = credential(role);
    // Keyboard only: the ID field, Tab to the secret, Enter submits.
    await page.focus('#client-id');
    await page.keyboard.type(c.clientId);
    await page.keyboard.press('Tab');
    await page.keyboard.type(c.clientSecret);
    await page.keyboard.press('Enter');
    await page.waitForSelector(role === 'auditor' ? '#auditor:not([hidden])' : '#portal:not([hidden])');
  }

  const textOf = (selector: string) => page.$eval(selector, (el) => el.textContent ?? '');

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    // Tokens live 8 s here, so the console must renew one (3 s before expiry) while the test runs.
    gw = await startTestGateway('pglite', { config: { tokenTtlSeconds: TOKEN_TTL_SECONDS } });
    await gw.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(gw.app.server.address() as AddressInfo).port}`;

    // Some earlier traffic, so the trail has more than one page; then a lookup with a fresh case
    // id, made through the API like any consumer would.
    const token = await gw.token('civil-affairs-window');
    const lookup = (payload: { caseId: string; officer?: string }) =>
      gw.app.inject({
        method: 'POST',
        url: '/v1/lookups',
        headers: { authorization: `Bearer ${token}` },
        payload: {
          type: 'household-registration',
          subject: { kind: 'person', id: person().id },
          purpose: 'marriage-registration-application',
          ...payload,
        },
      });
    for (let i = 0; i < 30; i += 1) {
      const earlier = await lookup({ caseId: `EARLIER-${i}` });
      expect(earlier.statusCode).toBe(200);
    }
    const res = await lookup({ caseId, officer: 'officer-7' });
    expect(res.statusCode, res.body).toBe(200);

    profileDir = mkdtempSync(path.join(tmpdir(), 'onetrip-chromium-'));
    downloadDir = mkdtempSync(path.join(tmpdir(), 'onetrip-downloads-'));
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      userDataDir: profileDir,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--lang=zh-CN',
      ],
    });
    const cdp = await browser.target().createCDPSession();
    await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloadDir });
    page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    page.on('request', (request) => {
      const url = request.url();
      if (url === `${base}/v1/auth/token`) tokenRequests += 1;
      const bearer = request.headers()['authorization'];
      if (bearer) bearers.push(bearer);
      // data: URLs (Chromium's own date-picker icon) and the export's blob: never leave the machine.
      if (!url.startsWith(`${base}/`) && !url.startsWith(`blob:${base}/`) && !url.startsWith('data:')) external.push(url);
    });
    page.on('console', (message) => {
      if (message.type() !== 'error') return;
      const where = message.location().url ?? '';
      const text = message.text();
      const expected = expectedNetworkErrors.some(
        (e) => where.endsWith(e.split(' ')[0] ?? '') && text.includes(`status of ${e.split(' ')[1]}`),
      );
      if (!expected) consoleErrors.push(`${text} @ ${where}`);
    });
    page.on('pageerror', (err) => consoleErrors.push(`uncaught: ${(err as Error).message}`));
    // A CSP violation would also be logged by Chromium; this reports it with its directive.
    await page.evaluateOnNewDocument(() => {
      document.addEventListener('securitypolicyviolation', (e: BrowserEvent) =>
        console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`),
      );
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await gw?.close();
    for (const dir of [profileDir, downloadDir]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('loads /console with its CSP, in Chinese, from the gateway only', async () => {
    const response = await page.goto(`${base}/console`, { waitUntil: 'networkidle0' });
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-security-policy']).toMatch(/^default-src 'self'(;|$)/);
    expect(await page.$eval('html', (el) => el.lang)).toBe('zh-CN');
    expect(await textOf('h1')).toBe('onetrip 数据共享控制台');
    expect(await textOf('label[for=client-id]')).toBe('Client ID');
    expect(await textOf('label[for=client-secret]')).toBe('Client secret');
    await axeScan('sign-in');
  });

  it('shows the problem title for wrong credentials', async () => {
    expectedNetworkErrors.push('/v1/auth/token 401');
    await page.type('#client-id', credential('auditor').clientId);
    await page.type('#client-secret', 'not-the-secret');
    await page.click('#signin-form button[type=submit]');
    await page.waitForSelector('#signin-error:not([hidden])');
    expect(await textOf('#signin-error')).toContain('Authentication required');
    expect(await page.$eval('#signin', (el) => (el as BrowserElement).hidden)).toBe(false);
    await page.$eval('#signin-form', (form) => (form as BrowserElement).reset());
    expectedNetworkErrors.length = 0;
  });

  it('shows an auditor the trail newest first, a page at a time', async () => {
    await signIn('auditor');
    await page.waitForSelector('#trail-table tbody tr');
    const first = await trailSeqs();
    expect(first).toHaveLength(25);
    expect(first).toEqual([...first].sort((a, b) => b - a));
    await shot('auditor', false);
    await page.setViewport({ width: 390, height: 844 });
    // On a phone the table scrolls inside its own (focusable) region; the page never scrolls sideways.
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    await shot('auditor-phone', false);
    await page.setViewport({ width: 1280, height: 900 });
    await page.click('#page-older');
    await page.waitForFunction(
      (last) => Number(document.querySelector('#trail-table tbody td')?.textContent) < last,
      {},
      first.at(-1) ?? 0,
    );
    const second = await trailSeqs();
    expect(second[0]).toBe((first.at(-1) ?? 0) - 1);
    expect(await page.$eval('#page-newer', (el) => (el as BrowserElement).disabled)).toBe(false);
    await page.click('#page-newer');
    await page.waitForFunction((top) => Number(document.querySelector('#trail-table tbody td')?.textContent) >= top, {}, first[0] ?? 0);
    expect(await page.$eval('#page-newer', (el) => (el as BrowserElement).disabled)).toBe(true);
  }, 30_000);

  it('searches by time range and by subject, the subject in the body only', async () => {
    await page.$eval('#f-from', (el) => void ((el as BrowserElement).value = '2099-01-01T00:00:00'));
    const future = await search();
    expect(future.from).toMatch(/^2098-12-3\dT|^2099-01-01T/);
    expect(await textOf('#trail-results')).toContain('没有符合条件的记录');
    await page.$eval('#f-from', (el) => void ((el as BrowserElement).value = ''));

    await page.type('#f-subject-id', person().id);
    const body = await search();
    expect(body.subject).toEqual({ kind: 'person', id: person().id });
    expect(page.url()).toBe(`${base}/console`);
    const rows = await page.$$eval('#trail-table tbody tr', (trs) => trs.map((tr) => tr.textContent ?? ''));
    expect(rows.some((r) => r.includes(caseId))).toBe(true);
    expect(rows.join('\n')).not.toContain(person().id);
    await page.$eval('#search-form', (form) => (form as BrowserElement).reset());
  }, 30_000);

  it('lets an auditor find the fresh lookup by case id and open its full detail', async () => {
    await page.type('#f-case', caseId);
    expect(await page.$eval('#f-case', (el) => (el as BrowserElement).type)).toBe('search');
    expect(await search()).toEqual({ caseId, limit: 25 });
    expect(page.url()).toBe(`${base}/console`); // filters never reach the address
    const rows = await page.$$eval('#trail-table tbody tr', (trs) => trs.map((tr) => tr.textContent ?? ''));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toContain('household-registration');

    const stored = await gw.db.db.selectFrom('audit_events').selectAll().where('case_id', '=', caseId).executeTakeFirstOrThrow();
    await page.click('#trail-table tbody tr button');
    await page.waitForSelector('#detail[open]');
    const member = (name: string) => textOf(`#detail dd[data-member="${name}"]`);
    expect(await member('seq')).toBe(String(stored.seq));
    expect(await member('caseId')).toBe(caseId);
    expect(await member('hash')).toBe(stored.hash);
    expect(await member('prevHash')).toBe(stored.prev_hash);
    expect(await member('recordDigest')).toBe(stored.record_digest);
    expect(await member('fields')).toContain('registrationNumber');
    expect(await member('subjectMasked')).not.toContain(person().id);
    await shot('detail');
    await axeScan('detail');
    await page.keyboard.press('Escape');
    await page.waitForSelector('#detail:not([open])');
    await shot('search');
    await axeScan('auditor');
  }, 60_000);

  it('exports the current filter as a downloaded NDJSON file', async () => {
    const exported = page.waitForResponse((r) => r.url() === `${base}/v1/audit/export` && r.request().method() === 'POST');
    await page.click('#export');
    const response = await exported;
    expect(response.status()).toBe(200);
    expect(response.request().headers()['accept']).toBe('application/x-ndjson');
    expect(JSON.parse(response.request().postData() ?? '{}')).toEqual({ caseId });
    let file: string | undefined;
    for (let i = 0; i < 50 && !file; i += 1) {
      file = readdirSync(downloadDir).find((f) => f.endsWith('.ndjson'));
      if (!file) await new Promise((r) => setTimeout(r, 100));
    }
    expect(file).toMatch(/^audit-export-.+\.ndjson$/);
    const lines = readFileSync(path.join(downloadDir, file ?? ''), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { caseId: string; hash: string });
    expect(lines).toHaveLength(1);
    expect(lines[0]?.caseId).toBe(caseId);
    expect(await textOf('#status')).toContain(file ?? '');

    await page.select('#export-format', 'text/csv');
    await page.click('#export');
    let csv: string | undefined;
    for (let i = 0; i < 50 && !csv; i += 1) {
      csv = readdirSync(downloadDir).find((f) => f.endsWith('.csv'));
      if (!csv) await new Promise((r) => setTimeout(r, 100));
    }
    const [header, row, ...rest] = readFileSync(path.join(downloadDir, csv ?? ''), 'utf8')
      .trim()
      .split(/\r?\n/);
    expect(header).toMatch(/^seq,/);
    expect(row).toContain(caseId);
    expect(rest).toEqual([]);
  });

  it('verifies the chain', async () => {
    await page.click('#auditor .tabs button[data-tab=verify]');
    await page.click('#verify');
    await page.waitForSelector('#verify-verdict');
    expect(await textOf('#verify-verdict')).toBe('哈希链完整');
    expect(await textOf('#verify-result dl')).toMatch(/最新签名检查点/);
    // Where the gateway offers GET /v1/audit/checkpoints (ARCHITECTURE.md), they can be saved for the CLI.
    const published = (await page.evaluate(() => fetch('/openapi.json').then((r) => r.json()))) as {
      paths: Record<string, { get?: unknown }>;
    };
    const offersCheckpoints = Boolean(published.paths['/v1/audit/checkpoints']?.get);
    expect(Boolean(await page.$('#checkpoints-download'))).toBe(offersCheckpoints);
    if (offersCheckpoints) {
      await page.click('#checkpoints-download');
      let saved = false;
      for (let i = 0; i < 50 && !saved; i += 1) {
        saved = readdirSync(downloadDir).includes('checkpoints.ndjson');
        if (!saved) await new Promise((r) => setTimeout(r, 100));
      }
      expect(saved).toBe(true);
    }
    await axeScan('verify');
  });

  it('renews its token before it expires, and the renewed token works', async () => {
    const before = bearers.at(-1);
    const renewed = await page.waitForResponse((r) => r.url() === `${base}/v1/auth/token` && r.status() === 200, {
      timeout: TOKEN_TTL_SECONDS * 1000,
    });
    expect(renewed.request().postData()).toContain(credential('auditor').clientId);
    const verified = page.waitForResponse((r) => r.url() === `${base}/v1/audit/verify`);
    await page.click('#verify');
    expect((await verified).status()).toBe(200);
    expect(bearers.at(-1)).not.toBe(before);
  }, 30_000);

  it('draws the charts with ECharts under the CSP, and a calm panel for reports this gateway lacks', async () => {
    await page.click('#auditor .tabs button[data-tab=charts]');
    await page.waitForSelector('#chart-dept canvas');
    await page.waitForSelector('#chart-outcome canvas');
    expect(await page.evaluate(() => typeof window.echarts)).toBe('object');
    for (const id of ['#once-only', '#providers']) {
      await page.waitForSelector(`${id} canvas, ${id} .notice, ${id} table`);
    }
    await shot('charts');
    await axeScan('charts');
  }, 60_000);

  it('shows a person in portal mode who looked at their data, in plain words, then signs out', async () => {
    await page.click('#signout');
    await page.waitForSelector('#signin:not([hidden])');
    expect(await page.$eval('#who', (el) => (el as BrowserElement).hidden)).toBe(true);
    await signIn('portal');
    await page.select('#p-kind', 'person');
    await page.type('#p-id', person().id);
    await page.click('#portal-form button[type=submit]');
    await page.waitForSelector('#accesses li');
    const ourAccess = async () =>
      (await page.$$eval('#accesses li', (lis) => lis.map((li) => li.textContent ?? ''))).find((text) => text.includes(caseId));
    expect(await ourAccess()).toMatch(/民政局查询了“户籍登记信息”，用于办理“结婚登记”/);
    expect(page.url()).toBe(`${base}/console`);
    expect(await page.content()).not.toContain(person().id); // only the masked id is shown back
    await shot('portal', false);
    await axeScan('portal');

    // Older accesses a page at a time (31 accesses, 20 a page).
    expect(await page.$$eval('#accesses li', (lis) => lis.length)).toBe(20);
    await page.click('#accesses + button');
    await page.waitForFunction(() => document.querySelectorAll('#accesses li').length === 31);

    // The same tracker in English, re-rendered in place.
    await page.click('#lang');
    expect(await page.$eval('html', (el) => el.lang)).toBe('en');
    expect(await ourAccess()).toMatch(/looked up "户籍登记信息" for the procedure "结婚登记" \(case CONSOLE-/);
    expect(await ourAccess()).toContain('released');

    // Readable on a phone: nothing wider than the screen.
    // (isMobile stays off: switching it reloads the page, and a reload forgets the in-memory token.)
    await page.setViewport({ width: 390, height: 844 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    await shot('portal-phone');
    await page.setViewport({ width: 1280, height: 900 });

    // Nothing was kept outside the page's memory.
    expect(await page.evaluate(() => [document.cookie, localStorage.length, sessionStorage.length])).toEqual(['', 0, 0]);
    await page.click('#signout');
    await page.waitForSelector('#signin:not([hidden])');
    expect(await page.$eval('#portal', (el) => (el as BrowserElement).hidden)).toBe(true);
    expect(await page.$eval('#portal-results', (el) => el.childElementCount)).toBe(0);
    // Signed out, the console forgets the credentials: no renewal follows.
    const tokensAtSignOut = tokenRequests;
    await new Promise((r) => setTimeout(r, (TOKEN_TTL_SECONDS - 4) * 1000));
    expect(tokenRequests).toBe(tokensAtSignOut);
  }, 60_000);

  it('made no request outside the gateway and logged no console error or CSP violation', () => {
    expect(external).toEqual([]);
    expect(consoleErrors).toEqual([]);
  });

  it('refuses an inline script and a third-party URL (the CSP is enforced)', async () => {
    const probe = await browser.newPage();
    const answered: string[] = [];
    const blocked: string[] = [];
    probe.on('response', (r) => void (!r.url().startsWith(`${base}/`) && answered.push(r.url())));
    probe.on('requestfailed', (r) => void blocked.push(r.url()));
    await probe.goto(`${base}/console`, { waitUntil: 'networkidle0' });
    const outcome = await probe.evaluate(async () => {
      const seen: string[] = [];
      document.addEventListener('securitypolicyviolation', (e: BrowserEvent) => seen.push(e.effectiveDirective));
      const script = document.createElement('script');
      script.textContent = 'window.inlineRan = true';
      document.head.append(script);
      const img = document.createElement('img');
      img.alt = '';
      img.src = 'https://cdn.example.com/pixel.png';
      document.body.append(img);
      await new Promise((r) => setTimeout(r, 300));
      return { seen, inlineRan: window.inlineRan === true };
    });
    expect(outcome.inlineRan).toBe(false);
    expect(outcome.seen).toEqual(expect.arrayContaining(['script-src-elem', 'img-src']));
    // Chromium refuses the third-party image itself: it never reaches the network.
    expect(answered).toEqual([]);
    expect(blocked).toEqual(['https://cdn.example.com/pixel.png']);
    await probe.close();
  });
});
