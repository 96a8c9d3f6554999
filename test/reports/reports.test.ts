import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { percentileOf } from '../../src/reports/repository.js';
import { DATABASE_KINDS } from '../helpers/db.js';
import { startFakeProvider, type FakeProvider } from '../helpers/fake-provider.js';
import { problemOf, startTestGateway, tokenCache, type TestGateway } from '../helpers/app.js';
import { eventsFor, post, register, requestIdOf, TEST_RECORD, testType } from '../lookups/consumer.js';

/** Test providers, all of department `education`, so its provider figures are ours alone. */
function registerReportProviders(app: FastifyInstance) {
  app.adapters.registerBuiltin('rpt-holds', async () => ({ found: true, record: { ...TEST_RECORD } }));
  app.adapters.registerBuiltin('rpt-none', async () => ({ found: false }));
  app.adapters.registerBuiltin('rpt-broken', () => {
    throw new Error('the department is down');
  });
}

const PROVIDER = 'education';
const ALL_FETCHED = 'rpt-all-fetched';
/** One material per reason the demo government can produce, plus one fetched. */
const MIXED = 'rpt-mixed';
const MISSING = 'rpt-missing-only';

interface Answer {
  procedure: string;
  materials: Array<{ type: string; status: string; reason?: string }>;
  fetched: number;
  toSubmit: number;
}

describe('percentileOf', () => {
  it('is percentile_disc over (value, count) pairs', () => {
    const pairs: Array<[number, number]> = [
      [1, 1],
      [2, 1],
      [3, 1],
      [4, 1],
    ];
    expect([percentileOf(pairs, 4, 0.5), percentileOf(pairs, 4, 0.95), percentileOf(pairs, 4, 0.25)]).toEqual([2, 4, 1]);
    expect(
      percentileOf(
        [
          [10, 19],
          [900, 1],
        ],
        20,
        0.95,
      ),
    ).toBe(10);
    expect(
      percentileOf(
        [
          [10, 18],
          [900, 2],
        ],
        20,
        0.95,
      ),
    ).toBe(900);
    expect(percentileOf([], 0, 0.5)).toBeNull();
  });
});

describe.each(DATABASE_KINDS)('once-only reports on %s', (kind) => {
  let gw: TestGateway;
  const tokenFor = tokenCache(() => gw);
  const get = async (url: string, clientId: string | null, remoteAddress?: string): Promise<LightMyRequestResponse> =>
    gw.app.inject({
      url,
      headers: clientId ? { authorization: `Bearer ${await tokenFor(clientId)}` } : {},
      ...(remoteAddress ? { remoteAddress } : {}),
    });
  const answers: Array<{ consumer: string; answer: Answer }> = [];
  const startedAt = new Date();

  beforeAll(async () => {
    gw = await startTestGateway(kind, {
      beforeRoutes: registerReportProviders,
      env: { PUBLIC_REPORT_RATE_LIMIT_PER_MINUTE: '3', ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}) },
      // Counters of this run only, when they live in a shared Redis.
      config: { rateLimitNamespace: `onetrip-rl-reports-${randomUUID()}:` },
    });
    const own = { provider: PROVIDER };
    await register(gw, {
      types: [
        testType('rpt-ok', { kind: 'builtin', name: 'rpt-holds' }, own),
        testType('rpt-missing', { kind: 'builtin', name: 'rpt-none' }, own),
        testType('rpt-broken', { kind: 'builtin', name: 'rpt-broken' }, own),
      ],
      procedures: [
        { code: ALL_FETCHED, title: 'all fetched', materials: ['rpt-ok'] },
        // not_held, provider_failed, not_shared (sharing none), invalid_subject (an enterprise type for a
        // person), not_granted (housing-fund's grant covers only its own procedure).
        {
          code: MIXED,
          title: 'mixed',
          materials: ['rpt-ok', 'rpt-missing', 'rpt-broken', 'criminal-record', 'business-licence', 'household-registration'],
        },
        { code: MISSING, title: 'missing', materials: ['rpt-missing'] },
      ],
    });
    const person = gw.subjects.find((s) => s.kind === 'person')!;
    const plan: Array<[string, string, number]> = [
      ['housing-fund-window', ALL_FETCHED, 6],
      ['civil-affairs-window', ALL_FETCHED, 1],
      ['housing-fund-window', MIXED, 2],
      ['civil-affairs-window', MISSING, 3],
    ];
    let n = 0;
    for (const [clientId, procedure, count] of plan) {
      for (let i = 0; i < count; i++) {
        const res = await post(gw, '/v1/cases', await tokenFor(clientId), {
          procedure,
          applicant: { kind: 'person', id: person.id },
          caseId: `RPT-${n++}`,
        });
        expect(res.statusCode).toBe(201);
        const consumer = gw.credentials.find((c) => c.clientId === clientId)!.department;
        answers.push({ consumer, answer: res.json() });
      }
    }
    // Whole-request refusals are not cases.
    const refused = await post(gw, '/v1/cases', await tokenFor('housing-fund-window'), {
      procedure: 'no-such-procedure',
      applicant: { kind: 'person', id: person.id },
      caseId: 'RPT-X',
    });
    expect(refused.statusCode).toBe(404);
  });
  afterAll(async () => gw?.close());

  it('records each to-submit reason in its case.material event', async () => {
    const person = gw.subjects.find((s) => s.kind === 'person')!;
    const res = await post(gw, '/v1/cases', await tokenFor('housing-fund-window'), {
      procedure: MIXED,
      applicant: { kind: 'person', id: person.id },
      caseId: 'RPT-EVENTS',
    });
    const answer = res.json() as Answer;
    expect(answer.materials.map((m) => [m.type, m.reason ?? m.status])).toEqual([
      ['rpt-ok', 'fetched'],
      ['rpt-missing', 'not_held'],
      ['rpt-broken', 'provider_failed'],
      ['criminal-record', 'not_shared'],
      ['business-licence', 'invalid_subject'],
      ['household-registration', 'not_granted'],
    ]);
    const events = await eventsFor(gw, requestIdOf(res));
    for (const m of answer.materials) {
      const event = events.find((e) => e.type === m.type)!;
      expect(event.detail).toEqual(m.status === 'fetched' ? null : { reason: m.reason });
    }
    answers.push({ consumer: 'housing-fund', answer });
  });

  it('counts cases, one-trip cases and materials by reason exactly as the case answers said', async () => {
    const res = await get('/v1/reports/once-only', 'audit-office');
    expect(res.statusCode).toBe(200);
    const report = res.json();
    const procedure = (code: string) => report.procedures.find((p: { procedure: string }) => p.procedure === code);
    expect(procedure(ALL_FETCHED)).toEqual({
      procedure: ALL_FETCHED,
      title: 'all fetched',
      cases: 7,
      oneTripCases: 7,
      fetched: 7,
      toSubmit: 0,
      toSubmitByReason: {},
    });
    expect(procedure(MIXED)).toEqual({
      procedure: MIXED,
      title: 'mixed',
      cases: 3,
      oneTripCases: 0,
      fetched: 3,
      toSubmit: 15,
      toSubmitByReason: { not_held: 3, provider_failed: 3, not_shared: 3, invalid_subject: 3, not_granted: 3 },
    });
    expect(procedure(MISSING)).toMatchObject({ cases: 3, oneTripCases: 0, fetched: 0, toSubmit: 3, toSubmitByReason: { not_held: 3 } });
    // Registered procedures without cases are listed with zeros; the refused one is not a case.
    expect(procedure('talent-subsidy')).toMatchObject({ cases: 0, oneTripCases: 0, toSubmitByReason: {} });
    expect(procedure('no-such-procedure')).toBeUndefined();

    // The same figures, recomputed from the answers the consumers got.
    const sum = (pick: (a: Answer) => number, only?: (x: { consumer: string; answer: Answer }) => boolean) =>
      answers.filter((x) => !only || only(x)).reduce((t, x) => t + pick(x.answer), 0);
    expect(report.totals).toEqual({
      cases: answers.length,
      oneTripCases: sum((a) => (a.toSubmit === 0 ? 1 : 0)),
      fetched: sum((a) => a.fetched),
      toSubmit: sum((a) => a.toSubmit),
    });
    expect(report.totals).toEqual({ cases: 13, oneTripCases: 7, fetched: 10, toSubmit: 18 });
    expect(report.consumers).toEqual([
      { department: 'civil-affairs', cases: 4, oneTripCases: 1, fetched: 1, toSubmit: 3 },
      { department: 'housing-fund', cases: 9, oneTripCases: 6, fetched: 9, toSubmit: 15 },
    ]);
    expect(new Date(report.to).getTime() - new Date(report.from).getTime()).toBe(30 * 86_400_000);
  });

  it('counts only the cases of the window asked for', async () => {
    const before = encodeURIComponent(new Date(startedAt.getTime() - 1000).toISOString());
    const res = await get(`/v1/reports/once-only?from=2020-01-01T00:00:00Z&to=${before}`, 'platform-admin');
    expect(res.statusCode).toBe(200);
    expect(res.json().totals).toEqual({ cases: 0, oneTripCases: 0, fetched: 0, toSubmit: 0 });
    const since = await get(`/v1/reports/once-only?from=${encodeURIComponent(startedAt.toISOString())}`, 'platform-admin');
    expect(since.json().totals.cases).toBe(13);
  });

  it('refuses a bad window with 400 VALIDATION_FAILED', async () => {
    for (const query of [
      'from=2025-03-02T00:00:00Z&to=2025-03-01T00:00:00Z',
      'from=yesterday',
      'to=2025-13-01T00:00:00Z',
      'since=2025-01-01T00:00:00Z',
    ]) {
      for (const route of ['once-only', 'providers']) {
        const res = await get(`/v1/reports/${route}?${query}`, 'audit-office');
        expect(res.statusCode, `${route}?${query}`).toBe(400);
        expect(problemOf(res).code).toBe('VALIDATION_FAILED');
      }
    }
  });

  it('lets only auditors and admins read the reports', async () => {
    for (const route of ['/v1/reports/once-only', '/v1/reports/providers']) {
      const consumer = await get(route, 'housing-fund-window');
      expect(consumer.statusCode).toBe(403);
      expect(problemOf(consumer).code).toBe('FORBIDDEN');
      const portal = await get(route, 'citizen-portal');
      expect(problemOf(portal).code).toBe('FORBIDDEN');
      const anonymous = await get(route, null);
      expect(anonymous.statusCode).toBe(401);
      expect(problemOf(anonymous).code).toBe('UNAUTHENTICATED');
      expect((await get(route, 'platform-admin')).statusCode).toBe(200);
    }
  });

  it('reports provider calls, failures by code, latency and the circuit', async () => {
    const res = await get('/v1/reports/providers', 'audit-office');
    expect(res.statusCode).toBe(200);
    const providers = res.json().providers as Array<Record<string, unknown>>;
    const education = providers.find((p) => p.provider === PROVIDER)!;
    // ok: 7 + 3 (rpt-ok in mixed); not found: 3 (mixed) + 3 (missing only); failed: 3 (rpt-broken).
    expect(education).toMatchObject({ calls: 19, ok: 10, notFound: 6, failed: 3, byCode: { PROVIDER_ERROR: 3 }, breaker: 'closed' });
    expect(typeof education.p50Ms).toBe('number');
    // Exactly PostgreSQL's percentile_disc over the same events.
    const { rows } = await sql<{ p50: number; p95: number }>`
      select percentile_disc(0.5) within group (order by latency_ms) as p50, percentile_disc(0.95) within group (order by latency_ms) as p95
      from audit_events where provider = ${PROVIDER} and (outcome in ('ok', 'not_found') or error_code = 'PROVIDER_ERROR')`.execute(
      gw.db.db,
    );
    expect([education.p50Ms, education.p95Ms]).toEqual([Number(rows[0]!.p50), Number(rows[0]!.p95)]);
    // Refused before any provider was asked (sharing none, no grant): not calls. Listed with zeros.
    const publicSecurity = providers.find((p) => p.provider === 'public-security')!;
    expect(publicSecurity).toMatchObject({
      calls: 0,
      ok: 0,
      notFound: 0,
      failed: 0,
      byCode: {},
      p50Ms: null,
      p95Ms: null,
      breaker: 'closed',
    });
  });

  it('publishes cases and the one-trip rate without a token, withholding counts under 5, cached', async () => {
    const res = await get('/v1/public/once-only', null, '10.1.0.1');
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toMatch(/^public, max-age=\d+$/);
    const report = res.json();
    const procedure = (code: string) => report.procedures.find((p: { procedure: string }) => p.procedure === code);
    expect(procedure(ALL_FETCHED)).toEqual({ procedure: ALL_FETCHED, title: 'all fetched', cases: 7, oneTripRate: 1 });
    expect(procedure(MIXED)).toEqual({ procedure: MIXED, title: 'mixed', cases: null, oneTripRate: null });
    expect(procedure(MISSING)).toMatchObject({ cases: null, oneTripRate: null });
    expect(procedure('talent-subsidy')).toMatchObject({ cases: null, oneTripRate: null });
    expect(JSON.stringify(report)).not.toMatch(/RPT-|consumer|housing-fund"/);

    // Two more MISSING cases make five: still the cached answer (PUBLIC_REPORT_CACHE_SECONDS).
    const person = gw.subjects.find((s) => s.kind === 'person')!;
    for (const caseId of ['RPT-M1', 'RPT-M2']) {
      expect(
        (
          await post(gw, '/v1/cases', await tokenFor('civil-affairs-window'), {
            procedure: MISSING,
            applicant: { kind: 'person', id: person.id },
            caseId,
          })
        ).statusCode,
      ).toBe(201);
    }
    const again = await get('/v1/public/once-only', null, '10.1.0.2');
    expect(again.json()).toEqual(report);
    const fresh = await get('/v1/reports/once-only', 'audit-office');
    expect(fresh.json().procedures.find((p: { procedure: string }) => p.procedure === MISSING).cases).toBe(5);
  });

  it('limits the public report per address', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await get('/v1/public/once-only', null, '10.2.0.1')).statusCode);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const limited = await get('/v1/public/once-only', null, '10.2.0.1');
    expect(problemOf(limited).code).toBe('RATE_LIMITED');
    expect(limited.headers['retry-after']).toBeDefined();
    expect((await get('/v1/public/once-only', null, '10.2.0.2')).statusCode).toBe(200);
  });

  it('exposes case and provider series on /metrics, labelled by codes only', async () => {
    const res = await gw.app.inject({ url: '/metrics' });
    expect(res.statusCode).toBe(200);
    const text = res.body;
    const value = (series: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      return line === undefined ? undefined : Number(line.slice(series.length + 1));
    };
    expect(value(`onetrip_cases_total{procedure="${ALL_FETCHED}",consumer="housing-fund",one_trip="true"}`)).toBe(6);
    expect(value(`onetrip_cases_total{procedure="${MIXED}",consumer="housing-fund",one_trip="false"}`)).toBe(3);
    expect(value(`onetrip_case_materials_total{procedure="${MIXED}",consumer="housing-fund",status="fetched",reason="none"}`)).toBe(3);
    for (const reason of ['not_held', 'provider_failed', 'not_shared', 'invalid_subject', 'not_granted']) {
      expect(
        value(`onetrip_case_materials_total{procedure="${MIXED}",consumer="housing-fund",status="to_submit",reason="${reason}"}`),
        reason,
      ).toBe(3);
    }
    expect(
      value(`onetrip_case_materials_total{procedure="${MISSING}",consumer="civil-affairs",status="to_submit",reason="not_held"}`),
    ).toBe(5);
    expect(value(`onetrip_provider_calls_total{provider="${PROVIDER}",outcome="ok"}`)).toBe(10);
    expect(value(`onetrip_provider_calls_total{provider="${PROVIDER}",outcome="not_found"}`)).toBe(8);
    expect(value(`onetrip_provider_calls_total{provider="${PROVIDER}",outcome="provider_error"}`)).toBe(3);
    expect(value(`onetrip_provider_duration_seconds_count{provider="${PROVIDER}"}`)).toBe(21);
    expect(value(`onetrip_provider_circuit_state{provider="${PROVIDER}"}`)).toBe(0);
    expect(value('onetrip_provider_circuit_state{provider="public-security"}')).toBe(0);
    // No case id, request id or subject ever becomes a label.
    expect(text).not.toMatch(/RPT-|request_id|case_id/);
    for (const s of gw.subjects) expect(text).not.toContain(s.id);
  });
});

describe.each(DATABASE_KINDS)('provider circuits in reports and metrics on %s', (kind) => {
  let gw: TestGateway;
  let down: FakeProvider;

  beforeAll(async () => {
    gw = await startTestGateway(kind, { env: { PROVIDER_BREAKER_FAILURES: '1' } });
    down = await startFakeProvider({ behaviour: 'status500' });
    await register(gw, {
      types: [testType('rpt-down', { kind: 'http', url: `${down.url}/answer`, timeoutMs: 2000 }, { provider: 'taxation' })],
      procedures: [{ code: 'rpt-down-procedure', title: 'down', materials: ['rpt-down'] }],
    });
  });
  afterAll(async () => {
    await gw?.close();
    await down?.close();
  });

  it('shows an open circuit after a failure, and the refused call as PROVIDER_UNAVAILABLE', async () => {
    const token = await gw.token('housing-fund-window');
    const person = gw.subjects.find((s) => s.kind === 'person')!;
    for (const caseId of ['RPT-D1', 'RPT-D2']) {
      const res = await post(gw, '/v1/cases', token, {
        procedure: 'rpt-down-procedure',
        applicant: { kind: 'person', id: person.id },
        caseId,
      });
      expect(res.json().materials[0].reason).toBe('provider_failed');
    }
    expect(down.hits).toBe(1);
    const report = await gw.app.inject({
      url: '/v1/reports/providers',
      headers: { authorization: `Bearer ${await gw.token('audit-office')}` },
    });
    expect(report.json().providers.find((p: { provider: string }) => p.provider === 'taxation')).toMatchObject({
      calls: 2,
      failed: 2,
      byCode: { PROVIDER_ERROR: 1, PROVIDER_UNAVAILABLE: 1 },
      breaker: 'open',
    });
    const metrics = (await gw.app.inject({ url: '/metrics' })).body;
    expect(metrics).toContain('onetrip_provider_circuit_state{provider="taxation"} 2');
    expect(metrics).toContain('onetrip_provider_calls_total{provider="taxation",outcome="provider_error"} 1');
    expect(metrics).toContain('onetrip_provider_calls_total{provider="taxation",outcome="provider_unavailable"} 1');
    expect(metrics).toContain('onetrip_cases_total{procedure="rpt-down-procedure",consumer="housing-fund",one_trip="false"} 2');
  });
});
