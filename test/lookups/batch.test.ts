import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditFacts } from '../../src/plugins/audit.js';
import { problem } from '../../src/errors.js';
import { DATABASE_KINDS } from '../helpers/db.js';
import { problemOf, gatewayForSuite } from '../helpers/app.js';
import { startFakeProvider, type FakeProvider, UPSTREAM_SECRET } from '../helpers/fake-provider.js';
import { eventsFor, post, register, requestIdOf, testType } from './consumer.js';

function breakCheckDigit(id: string): string {
  return id.slice(0, 17) + (id.at(-1) === '1' ? '2' : '1');
}

describe.each(DATABASE_KINDS)('POST /v1/lookups/batch on %s', (kind) => {
  const suite = gatewayForSuite(kind, { tokens: { housing: 'housing-fund-window' } });
  let person: string;
  let failing: FakeProvider;
  let hanging: FakeProvider;

  beforeAll(async () => {
    failing = await startFakeProvider({ behaviour: 'status500' });
    hanging = await startFakeProvider({ behaviour: 'hang' });
    await register(suite.gw, {
      types: [
        testType('failing-register', { kind: 'http', url: `${failing.url}/answer`, timeoutMs: 2000 }),
        testType('hanging-register', { kind: 'http', url: `${hanging.url}/answer`, timeoutMs: 300 }),
      ],
    });
    const held = ['household-registration', 'marriage-registration', 'social-insurance-contributions'];
    person = suite.gw.subjects.find((s) => s.kind === 'person' && held.every((t) => s.holds.includes(t)))!.id;
  });
  afterAll(async () => {
    await failing?.close();
    await hanging?.close();
  });

  const batch = (body: Record<string, unknown>, auth: string | null = suite.tokens.housing) =>
    post(suite.gw, '/v1/lookups/batch', auth, body);
  const body = (items: object[]) => ({
    subject: { kind: 'person', id: person },
    purpose: 'housing-fund-withdrawal',
    caseId: 'HF-2026-B0001',
    officer: 'w07.zhang',
    items,
  });

  it('answers each item on its own, in request order, one audit event per item', async () => {
    const items = [
      { type: 'household-registration' },
      { type: 'social-insurance-contributions', fields: ['month', 'employer'] },
      { type: 'marriage-registration', fields: ['status'] },
      { type: 'real-estate-title', fields: ['nope'] },
      { type: 'criminal-record' },
      { type: 'business-licence' },
      { type: 'dragon-licence' },
      { type: 'failing-register' },
      { type: 'hanging-register' },
    ];
    const started = performance.now();
    const res = await batch(body(items));
    const elapsed = performance.now() - started;
    expect(res.statusCode).toBe(200);
    const { caseId, results } = res.json();
    expect(caseId).toBe('HF-2026-B0001');
    expect(results.map((r: { type: string }) => r.type)).toEqual(items.map((i) => i.type));
    expect(results.map((r: { status: string; error?: { code: string } }) => r.error?.code ?? r.status)).toEqual([
      'ok',
      'ok',
      'ok',
      'FIELD_NOT_ALLOWED',
      'NOT_GRANTED',
      'INVALID_SUBJECT_ID',
      'UNKNOWN_TYPE',
      'PROVIDER_ERROR',
      'PROVIDER_TIMEOUT',
    ]);
    expect(Object.keys(results[1].record)).toEqual(['rows']);
    for (const row of results[1].record.rows) expect(Object.keys(row).sort()).toEqual(['employer', 'month']);
    expect(results[2].record).toEqual({ status: expect.any(String) });
    const requestId = requestIdOf(res);
    for (const r of results.filter((x: { status: string }) => x.status === 'error')) {
      expect(r.error).toMatchObject({
        requestId,
        status: expect.any(Number),
        title: expect.any(String),
        type: expect.stringContaining('/problems/'),
      });
      expect(JSON.stringify(r.error)).not.toContain(UPSTREAM_SECRET);
    }
    // The hanging provider's timeout (300 ms) bounds the whole call: items ran side by side.
    expect(elapsed).toBeLessThan(2000);

    const events = await eventsFor(suite.gw, requestId);
    expect(events).toHaveLength(items.length);
    expect(events.every((e) => e.action === 'batch.item' && e.case_id === 'HF-2026-B0001' && e.officer === 'w07.zhang')).toBe(true);
    const byType = new Map(events.map((e) => [e.type, e]));
    for (const r of results.filter((x: { status: string }) => x.status === 'ok')) {
      expect(byType.get(r.type)).toMatchObject({ id: r.lookupId, outcome: 'ok', error_code: null });
    }
    expect(byType.get('social-insurance-contributions')?.fields).toEqual(['month', 'employer']);
    expect(byType.get('real-estate-title')).toMatchObject({ outcome: 'denied', error_code: 'FIELD_NOT_ALLOWED', fields: [] });
    expect(byType.get('failing-register')).toMatchObject({ outcome: 'error', error_code: 'PROVIDER_ERROR', provider: 'public-security' });
    expect(byType.get('hanging-register')).toMatchObject({ outcome: 'error', error_code: 'PROVIDER_TIMEOUT' });
    expect(byType.get('dragon-licence')).toMatchObject({ outcome: 'denied', error_code: 'UNKNOWN_TYPE', provider: null });
    expect(JSON.stringify(events)).not.toContain(person);
  });

  it("reports a record the provider does not hold as that item's RECORD_NOT_FOUND", async () => {
    const lacking = suite.gw.subjects.find((s) => s.kind === 'person' && !s.holds.includes('real-estate-title'))!;
    const res = await batch({
      ...body([{ type: 'real-estate-title' }, { type: 'household-registration' }]),
      subject: { kind: 'person', id: lacking.id },
    });
    expect(res.statusCode).toBe(200);
    const [estate] = res.json().results;
    expect(estate).toMatchObject({ status: 'error', error: { code: 'RECORD_NOT_FOUND', status: 404 } });
    const events = await eventsFor(suite.gw, requestIdOf(res));
    expect(events.find((e) => e.type === 'real-estate-title')).toMatchObject({ outcome: 'not_found', error_code: 'RECORD_NOT_FOUND' });
  });

  it('refuses an invalid subject id for the whole request with 422 and audits it', async () => {
    const res = await batch({ ...body([{ type: 'household-registration' }]), subject: { kind: 'person', id: breakCheckDigit(person) } });
    expect(res.statusCode).toBe(422);
    expect(problemOf(res).code).toBe('INVALID_SUBJECT_ID');
    const events = await eventsFor(suite.gw, problemOf(res).requestId);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      action: 'batch.item',
      outcome: 'denied',
      error_code: 'INVALID_SUBJECT_ID',
      case_id: 'HF-2026-B0001',
    });
  });

  it.each([
    ['no items', []],
    ['21 items', Array.from({ length: 21 }, () => ({ type: 'household-registration' }))],
    ['an empty field list', [{ type: 'household-registration', fields: [] }]],
    ['an unknown item property', [{ type: 'household-registration', colour: 'blue' }]],
  ])('refuses %s with 400 VALIDATION_FAILED', async (_label, items) => {
    const res = await batch(body(items));
    expect(res.statusCode).toBe(400);
    expect(problemOf(res).code).toBe('VALIDATION_FAILED');
    expect(await eventsFor(suite.gw, problemOf(res).requestId)).toHaveLength(1);
  });

  it('accepts 20 items', async () => {
    const res = await batch(body(Array.from({ length: 20 }, () => ({ type: 'household-registration', fields: ['name'] }))));
    expect(res.statusCode).toBe(200);
    expect(res.json().results.every((r: { status: string }) => r.status === 'ok')).toBe(true);
    expect(await eventsFor(suite.gw, requestIdOf(res))).toHaveLength(20);
  });

  it('refuses a caller without the consumer role with 403 FORBIDDEN, and no token with 401', async () => {
    const auditor = await suite.gw.token('audit-office');
    const forbidden = await batch(body([{ type: 'household-registration' }]), auditor);
    expect(forbidden.statusCode).toBe(403);
    expect(problemOf(forbidden).code).toBe('FORBIDDEN');
    const anonymous = await batch(body([{ type: 'household-registration' }]), null);
    expect(anonymous.statusCode).toBe(401);
    expect(problemOf(anonymous).code).toBe('UNAUTHENTICATED');
  });

  it("releases nothing when any item's audit event cannot be committed (503 AUDIT_UNAVAILABLE)", async () => {
    const audit = suite.gw.app.audit;
    const original = audit.record;
    // The success event of one item fails to commit; the other item's event commits normally.
    audit.record = async (request, facts: AuditFacts) => {
      if (facts.type === 'marriage-registration' && facts.outcome === 'ok')
        throw problem('AUDIT_UNAVAILABLE', 'the audit event could not be committed');
      return original(request, facts);
    };
    try {
      const res = await batch(body([{ type: 'household-registration' }, { type: 'marriage-registration' }]));
      expect(res.statusCode).toBe(503);
      expect(problemOf(res).code).toBe('AUDIT_UNAVAILABLE');
      expect(res.body).not.toContain('"record"');
    } finally {
      audit.record = original;
    }
  });
});
