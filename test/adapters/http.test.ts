import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppError } from '../../src/errors.js';
import type { ErrorCode } from '../../src/errors.js';
import { parseAllowedHosts } from '../../src/adapters/allowed-hosts.js';
import { createHttpAdapters } from '../../src/adapters/http.js';
import type { HttpAdapters, HttpAdaptersOptions } from '../../src/adapters/http.js';
import { startProviderServer } from '../../src/adapters/provider-server.js';
import type { ProviderRequest } from '../../src/adapters/types.js';
import { FAKE_RECORD, UPSTREAM_SECRET, createTestSigner, startFakeProvider } from '../helpers/fake-provider.js';
import type { FakeProvider, FakeProviderSettings, TestSigner } from '../helpers/fake-provider.js';

const SUBJECT_ID = '11010519491231002X';
const request: ProviderRequest = {
  type: 'household-registration',
  subject: { kind: 'person', id: SUBJECT_ID },
  fields: ['householdNumber', 'name'],
  purpose: 'birth-registration',
  caseId: 'CASE-2025-000042',
  requestId: 'req-7f3a',
};
const PROVIDER = 'public-security';

let signer: TestSigner;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  signer = await createTestSigner();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function adapters(overrides: Partial<HttpAdaptersOptions> = {}): HttpAdapters {
  const created = createHttpAdapters({
    allowedHosts: parseAllowedHosts('127.0.0.1', '1-65535'),
    signToken: (aud) => signer.signToken(aud),
    breaker: { consecutiveFailures: 3, halfOpenAfterMs: 200 },
    ...overrides,
  });
  cleanups.push(() => created.close());
  return created;
}

async function fake(settings: Partial<FakeProviderSettings> = {}): Promise<FakeProvider> {
  const started = await startFakeProvider(settings);
  cleanups.push(() => started.close());
  return started;
}

async function failure(promise: Promise<unknown>, code: ErrorCode): Promise<AppError> {
  const err = await promise.then(
    () => expect.fail(`expected ${code}, got an answer`),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  const appError = err as AppError;
  expect(appError.code, appError.message).toBe(code);
  // Integrators see the detail: never the upstream body or the subject id.
  expect(appError.message).not.toContain(UPSTREAM_SECRET);
  expect(appError.message).not.toContain(SUBJECT_ID);
  return appError;
}

const ctx = (timeoutMs = 2_000, provider = PROVIDER) => ({ provider, timeoutMs });

describe('http adapter: the provider protocol', () => {
  it('POSTs the request with the gateway token and reads {found: true, record}', async () => {
    const provider = await fake();
    const answer = await adapters()
      .adapterFor({ url: `${provider.url}/lookup?v=1`, timeoutMs: 2_000 })
      .call(request, ctx());
    expect(answer).toEqual({ found: true, record: FAKE_RECORD });
    const [received] = provider.calls;
    expect(received).toMatchObject({ method: 'POST', path: '/lookup?v=1', body: request });
    expect(received?.headers).toMatchObject({
      'content-type': 'application/json',
      accept: 'application/json',
      'x-request-id': 'req-7f3a',
      authorization: expect.stringMatching(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/),
    });
  });

  it('reads {found: false} as not found', async () => {
    const provider = await fake({ behaviour: 'notFound' });
    expect(await adapters().adapterFor({ url: provider.url, timeoutMs: 2_000 }).call(request, ctx())).toEqual({ found: false });
  });

  it('sends a JWT the provider verifies with the JWKS, audience = its department code', async () => {
    const seen: ProviderRequest[] = [];
    const server = await startProviderServer({
      department: PROVIDER,
      issuer: signer.issuer,
      jwks: () => Promise.resolve(signer.jwks),
      answer: (r) => (seen.push(r), { found: true, record: { ok: true } }),
    });
    cleanups.push(() => server.close());
    const adapter = adapters().adapterFor({ url: `${server.url}/lookup`, timeoutMs: 2_000 });
    expect(await adapter.call(request, ctx())).toEqual({ found: true, record: { ok: true } });
    expect(seen).toEqual([request]);
    // The same server refuses a token minted for another department.
    const err = await failure(adapter.call(request, ctx(2_000, 'civil-affairs')), 'PROVIDER_ERROR');
    expect(err.message).toMatch(/HTTP 401/);
  });
});

describe('http adapter: failures', () => {
  it('a hung provider yields PROVIDER_TIMEOUT within the timeout', async () => {
    const provider = await fake({ behaviour: 'hang' });
    const started = performance.now();
    const err = await failure(adapters().adapterFor({ url: provider.url, timeoutMs: 5_000 }).call(request, ctx(300)), 'PROVIDER_TIMEOUT');
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(500);
    expect(err.message).toBe('provider public-security did not answer within 300 ms');
  });

  it('the timeout covers the body as well as the headers', async () => {
    const provider = await fake({ behaviour: 'stallBody' });
    const started = performance.now();
    await failure(adapters().adapterFor({ url: provider.url, timeoutMs: 300 }).call(request, ctx(5_000)), 'PROVIDER_TIMEOUT');
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('HTTP 500 is PROVIDER_ERROR and the upstream body stays out of the error', async () => {
    const provider = await fake({ behaviour: 'status500' });
    const err = await failure(adapters().adapterFor({ url: provider.url, timeoutMs: 2_000 }).call(request, ctx()), 'PROVIDER_ERROR');
    expect(err.message).toBe('provider public-security answered HTTP 500');
  });

  it('an oversized body is PROVIDER_BAD_RESPONSE and the connection is cut, not drained', async () => {
    const provider = await fake({ behaviour: 'oversized' });
    const adapter = adapters({ maxResponseBytes: 64 * 1024 }).adapterFor({ url: provider.url, timeoutMs: 5_000 });
    await failure(adapter.call(request, ctx(5_000)), 'PROVIDER_BAD_RESPONSE');
    await expect.poll(() => provider.abortedResponses, { timeout: 1_000 }).toBe(1);
  });

  it('a declared Content-Length over the cap is refused before reading', async () => {
    const provider = await fake({ record: { blob: 'x'.repeat(10_000) } });
    const adapter = adapters({ maxResponseBytes: 1_000 }).adapterFor({ url: provider.url, timeoutMs: 2_000 });
    await failure(adapter.call(request, ctx()), 'PROVIDER_BAD_RESPONSE');
  });

  it('a redirect is PROVIDER_ERROR and its target is never called', async () => {
    const target = await fake();
    const provider = await fake({ behaviour: 'redirect', redirectTo: `${target.url}/steal` });
    const err = await failure(adapters().adapterFor({ url: provider.url, timeoutMs: 2_000 }).call(request, ctx()), 'PROVIDER_ERROR');
    expect(err.message).toMatch(/redirect/);
    expect(provider.hits).toBe(1);
    expect(target.hits).toBe(0);
  });

  it.each([
    ['not JSON', '<html>oops</html>'],
    ['found is not a boolean', '{"found": "yes"}'],
    ['record is an array', '{"found": true, "record": []}'],
    ['record is missing', '{"found": true}'],
    ['not found but with a record', '{"found": false, "record": {}}'],
    ['an array', '[]'],
  ])('an envelope that is %s is PROVIDER_BAD_RESPONSE', async (_, body) => {
    const provider = await fake({ behaviour: 'badEnvelope', badEnvelopeBody: body });
    await failure(adapters().adapterFor({ url: provider.url, timeoutMs: 2_000 }).call(request, ctx()), 'PROVIDER_BAD_RESPONSE');
  });

  it('reads an answer sent in chunks without a length, a character split between two of them, on one kept-alive connection', async () => {
    const answer = Buffer.from(JSON.stringify({ found: true, record: { name: '张三丰', note: 'é'.repeat(3000) } }));
    const split = answer.indexOf(Buffer.from('三')) + 1; // inside the three bytes of 三
    const sockets = new Set<unknown>();
    const server = createServer((req, res) => {
      sockets.add(req.socket);
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' }); // chunked: no Content-Length
        res.write(answer.subarray(0, split));
        setTimeout(() => res.end(answer.subarray(split)), 5);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
    cleanups.push(async () => server.closeAllConnections());
    const adapter = adapters().adapterFor({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/lookup`, timeoutMs: 2_000 });
    for (let i = 0; i < 3; i++) {
      const got = await adapter.call(request, ctx());
      expect(got).toEqual({ found: true, record: { name: '张三丰', note: 'é'.repeat(3000) } });
    }
    expect(sockets.size).toBe(1);
  });

  it('a refused connection is PROVIDER_ERROR', async () => {
    const provider = await fake();
    const url = provider.url;
    await provider.close();
    const err = await failure(adapters().adapterFor({ url, timeoutMs: 2_000 }).call(request, ctx()), 'PROVIDER_ERROR');
    expect(err.message).toBe('could not reach provider public-security');
    expect(err.cause).toBeDefined();
  });

  it('a token that cannot be signed is INTERNAL_ERROR and the provider is not called', async () => {
    const provider = await fake();
    const adapter = adapters({ signToken: () => Promise.reject(new Error('key store down')) }).adapterFor({
      url: provider.url,
      timeoutMs: 2_000,
    });
    await failure(adapter.call(request, ctx()), 'INTERNAL_ERROR');
    expect(provider.hits).toBe(0);
  });

  it('a cancelled call is PROVIDER_ERROR and does not count against the provider', async () => {
    const provider = await fake({ behaviour: 'hang' });
    const adapter = adapters().adapterFor({ url: provider.url, timeoutMs: 5_000 });
    for (let i = 0; i < 4; i++) {
      const controller = new AbortController();
      const call = adapter.call(request, { ...ctx(5_000), signal: controller.signal });
      setTimeout(() => controller.abort(), 20);
      expect((await failure(call, 'PROVIDER_ERROR')).message).toMatch(/cancelled/);
    }
    provider.set({ behaviour: 'ok' });
    expect(await adapter.call(request, ctx())).toMatchObject({ found: true });
  });
});

describe('http adapter: resilience per provider', () => {
  it('opens the circuit after N failures, then a half-open success closes it', async () => {
    const provider = await fake({ behaviour: 'status500' });
    const logged: string[] = [];
    const logger = {
      warn: (_: object, msg?: string) => logged.push(`warn ${msg}`),
      info: (_: object, msg?: string) => logged.push(`info ${msg}`),
    };
    const adapter = adapters({ logger }).adapterFor({ url: provider.url, timeoutMs: 2_000 });
    for (let i = 0; i < 3; i++) await failure(adapter.call(request, ctx()), 'PROVIDER_ERROR');
    const open = await failure(adapter.call(request, ctx()), 'PROVIDER_UNAVAILABLE');
    expect(open.headers['retry-after']).toBe('1');
    expect(provider.hits).toBe(3);

    await sleep(250);
    await failure(adapter.call(request, ctx()), 'PROVIDER_ERROR'); // the probe fails: open again
    await failure(adapter.call(request, ctx()), 'PROVIDER_UNAVAILABLE');
    expect(provider.hits).toBe(4);

    provider.set({ behaviour: 'ok' });
    await sleep(250);
    expect(await adapter.call(request, ctx())).toMatchObject({ found: true });
    expect(await adapter.call(request, ctx())).toMatchObject({ found: true });
    expect(provider.hits).toBe(6);
    expect(logged).toEqual([
      'warn provider circuit opened',
      'info provider circuit half-open: sending a probe',
      'warn provider circuit opened',
      'info provider circuit half-open: sending a probe',
      'info provider circuit closed',
    ]);
  });

  it('timeouts and bad envelopes count as failures too', async () => {
    const provider = await fake({ behaviour: 'hang' });
    const adapter = adapters().adapterFor({ url: provider.url, timeoutMs: 2_000 });
    await failure(adapter.call(request, ctx(100)), 'PROVIDER_TIMEOUT');
    await failure(adapter.call(request, ctx(100)), 'PROVIDER_TIMEOUT');
    provider.set({ behaviour: 'badEnvelope' });
    await failure(adapter.call(request, ctx()), 'PROVIDER_BAD_RESPONSE');
    await failure(adapter.call(request, ctx()), 'PROVIDER_UNAVAILABLE');
  });

  it('a full queue is PROVIDER_UNAVAILABLE at once', async () => {
    const provider = await fake({ behaviour: 'hang' });
    const adapter = adapters({ maxConcurrentPerProvider: 1, maxQueuedPerProvider: 1 }).adapterFor({ url: provider.url, timeoutMs: 5_000 });
    const running = [adapter.call(request, ctx(400))];
    await expect.poll(() => provider.hits).toBe(1);
    running.push(adapter.call(request, ctx(400)));
    await sleep(50); // the second call is now waiting in the queue
    const started = performance.now();
    await failure(adapter.call(request, ctx(400)), 'PROVIDER_UNAVAILABLE');
    expect(performance.now() - started).toBeLessThan(100);
    // The queued call's budget includes its time in the queue.
    for (const call of running) await failure(call, 'PROVIDER_TIMEOUT');
  });

  it('a call whose deadline passes while it is queued is never sent, and the circuit does not count it', async () => {
    const provider = await fake({ behaviour: 'hang' });
    const adapter = adapters({ maxConcurrentPerProvider: 1, maxQueuedPerProvider: 4, breaker: { consecutiveFailures: 2 } }).adapterFor({
      url: provider.url,
      timeoutMs: 5_000,
    });
    const running = adapter.call(request, ctx(300));
    await expect.poll(() => provider.hits).toBe(1);
    await failure(adapter.call(request, ctx(50)), 'PROVIDER_TIMEOUT');
    await failure(running, 'PROVIDER_TIMEOUT');
    await sleep(50);
    expect(provider.hits).toBe(1);
    // One counted failure of two: the circuit is still closed, so the provider is asked again.
    provider.set({ behaviour: 'ok' });
    await expect(adapter.call(request, ctx())).resolves.toMatchObject({ found: true });
  });

  it('a hung provider does not slow calls to another provider', async () => {
    const hung = await fake({ behaviour: 'hang' });
    const healthy = await fake();
    const gateway = adapters({ maxConcurrentPerProvider: 4, maxQueuedPerProvider: 8 });
    const stuck = Array.from({ length: 12 }, () =>
      gateway.adapterFor({ url: hung.url, timeoutMs: 5_000 }).call(request, ctx(1_000, 'tax-bureau')),
    );
    await expect.poll(() => hung.hits).toBe(4);
    const started = performance.now();
    const answer = await gateway.adapterFor({ url: healthy.url, timeoutMs: 2_000 }).call(request, ctx());
    expect(answer).toMatchObject({ found: true });
    expect(performance.now() - started).toBeLessThan(200);
    await Promise.allSettled(stuck);
  });
});

describe('http adapter: allowed hosts (SSRF)', () => {
  it('refuses a URL outside ADAPTER_ALLOWED_HOSTS without calling it', async () => {
    const adapter = adapters({ allowedHosts: parseAllowedHosts('provider.gov.example') }).adapterFor({
      url: 'http://127.0.0.1:9/',
      timeoutMs: 2_000,
    });
    const err = await failure(adapter.call(request, ctx()), 'PROVIDER_ERROR');
    expect(err.message).toMatch(/not allowed: 127\.0\.0\.1 is not in ADAPTER_ALLOWED_HOSTS/);
  });

  it('refuses the metadata address even when it is listed', async () => {
    const adapter = adapters({ allowedHosts: parseAllowedHosts('169.254.169.254') }).adapterFor({
      url: 'http://169.254.169.254/latest/meta-data/',
      timeoutMs: 2_000,
    });
    await failure(adapter.call(request, ctx()), 'PROVIDER_ERROR');
  });

  it('checks the address a listed hostname resolves to, at connect time', async () => {
    const provider = await fake();
    const port = new URL(provider.url).port;
    let answer = '127.0.0.1';
    const gateway = adapters({
      allowedHosts: parseAllowedHosts('provider.test', '1-65535'),
      resolve: () => Promise.resolve([{ address: answer, family: 4 }]),
    });
    // Resolving to an ordinary address reaches the provider through the guarded lookup.
    expect(await gateway.adapterFor({ url: `http://provider.test:${port}/`, timeoutMs: 2_000 }).call(request, ctx())).toMatchObject({
      found: true,
    });
    // The name now resolves to the metadata service (DNS rebinding): a new connection is refused.
    answer = '169.254.169.254';
    const started = performance.now();
    const err = await failure(
      gateway.adapterFor({ url: `http://provider.test:${port}/`, timeoutMs: 2_000 }).call(request, ctx(2_000, 'tax-bureau')),
      'PROVIDER_ERROR',
    );
    expect(err.message).toMatch(/ADAPTER_ALLOWED_HOSTS/);
    expect(performance.now() - started).toBeLessThan(500);
    expect(provider.hits).toBe(1);
  });

  it('after close() calls are PROVIDER_UNAVAILABLE', async () => {
    const provider = await fake();
    const gateway = adapters();
    await gateway.close();
    await failure(gateway.adapterFor({ url: provider.url, timeoutMs: 2_000 }).call(request, ctx()), 'PROVIDER_UNAVAILABLE');
  });
});
