import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { ContractRecorder, toDocumentPath, type Exchange } from '../helpers/contract.js';

const problem = (code: string, status: number) =>
  JSON.stringify({ type: 'https://onetrip.gov.example/problems/x', title: 't', status, detail: 'd', code, requestId: 'r' });

const exchange = (x: Partial<Exchange>): Exchange => ({
  method: 'GET',
  routeUrl: '/healthz',
  status: 200,
  contentType: 'application/json; charset=utf-8',
  body: JSON.stringify({ status: 'ok' }),
  requestId: 'req-1',
  ...x,
});

/** The violations one exchange produces on a fresh recorder. */
function violationsOf(x: Partial<Exchange>): string[] {
  const recorder = new ContractRecorder();
  recorder.check(exchange(x));
  return recorder.violations;
}

describe('the response contract checker (test/helpers/contract.ts)', () => {
  it('maps Fastify params onto OpenAPI templates', () => {
    expect(toDocumentPath('/v1/admin/departments/:code/clients')).toBe('/v1/admin/departments/{code}/clients');
    expect(toDocumentPath('/v1/things/:id(^\\d+)')).toBe('/v1/things/{id}');
  });

  it('accepts an answer that matches its operation', () => {
    expect(violationsOf({})).toEqual([]);
    expect(
      violationsOf({
        routeUrl: '/v1/catalog',
        status: 401,
        contentType: 'application/problem+json',
        body: problem('UNAUTHENTICATED', 401),
      }),
    ).toEqual([]);
  });

  it('flags an undocumented status, content type, body or operation', () => {
    expect(violationsOf({ status: 418 })[0]).toMatch(/status 418 is not documented for GET \/healthz/);
    expect(violationsOf({ contentType: 'text/plain' })[0]).toMatch(/content type text\/plain is not among application\/json/);
    expect(violationsOf({ body: JSON.stringify({ healthy: true }) })[0]).toMatch(/must have required property 'status'/);
    expect(violationsOf({ body: '{"status":' })[0]).toMatch(/not valid JSON/);
    expect(violationsOf({ routeUrl: '/v1/secret-backdoor' })[0]).toMatch(/no operation GET \/v1\/secret-backdoor/);
    expect(
      violationsOf({ routeUrl: '/v1/catalog', status: 401, contentType: 'application/problem+json', body: problem('TEAPOT', 401) })[0],
    ).toMatch(/body\/code must be equal to one of the allowed values/);
  });

  it('checks bare problems where no operation applies: the 404 handler and internal errors', () => {
    expect(
      violationsOf({ routeUrl: undefined, status: 404, contentType: 'application/problem+json', body: problem('NOT_FOUND', 404) }),
    ).toEqual([]);
    expect(violationsOf({ status: 500, contentType: 'application/problem+json', body: problem('INTERNAL_ERROR', 500) })).toEqual([]);
    expect(violationsOf({ status: 500, contentType: 'text/html', body: '<h1>oops</h1>' })).toHaveLength(1);
    expect(violationsOf({ routeUrl: undefined, status: 404, contentType: 'application/json', body: '{}' })).toHaveLength(1);
  });

  it('skips HEAD requests and the swagger UI assets', () => {
    expect(violationsOf({ method: 'HEAD', status: 418 })).toEqual([]);
    expect(violationsOf({ routeUrl: '/docs/static/*', contentType: 'text/css', body: 'body{}' })).toEqual([]);
  });

  it('checks every line of a streamed NDJSON body as it passes, without changing it', async () => {
    const recorder = new ContractRecorder();
    const lines = ['{"seq":"not a number"}\n', 'not json\n', '{"half":'];
    const out = await text(Readable.from(lines).pipe(recorder.lineChecker('POST /v1/audit/export')));
    expect(out).toBe(lines.join(''));
    expect(recorder.violations).toHaveLength(3);
    expect(recorder.violations[1]).toMatch(/not JSON/);
    expect(recorder.violations[2]).toMatch(/not terminated/);
  });

  it('fails the suite with every violation it saw', () => {
    const recorder = new ContractRecorder();
    expect(() => recorder.assertNoViolations()).not.toThrow();
    recorder.check(exchange({ status: 418 }));
    expect(() => recorder.assertNoViolations()).toThrow(/responses outside openapi\/gateway.yaml:\n {2}GET \/healthz → 418/);
  });
});
