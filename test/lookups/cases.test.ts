import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_PROCEDURES, DEMO_PROCEDURE_SUBJECT_KINDS } from '../../src/demo/data.js';
import { DATABASE_KINDS } from '../helpers/db.js';
import { problemOf, startTestGateway, tokenCache, type TestGateway } from '../helpers/app.js';
import { eventsFor, post, register, requestIdOf, sleep, TEST_RECORD, testType } from './consumer.js';

/** The demo window that handles each demo procedure. */
const WINDOW: Record<string, string> = {
  'marriage-registration-application': 'civil-affairs-window',
  'enterprise-establishment': 'market-regulation-window',
  'housing-fund-withdrawal': 'housing-fund-window',
  'talent-subsidy': 'human-resources-window',
  'special-additional-deduction': 'taxation-window',
};
/** Materials the demo grants do not let that window fetch (taxation may only verify marital status). */
const NOT_GRANTED: Record<string, string[]> = { 'special-additional-deduction': ['marriage-registration'] };

const DELAYS = { 'slow-300': 300, 'slow-600': 600, 'slow-900': 900 } as const;

function registerSlowProviders(app: FastifyInstance) {
  for (const [name, ms] of Object.entries(DELAYS)) {
    app.adapters.registerBuiltin(name, async () => {
      await sleep(ms);
      return { found: true, record: { ...TEST_RECORD } };
    });
  }
  app.adapters.registerBuiltin('broken', () => {
    throw new Error('the department is down');
  });
}

interface Material {
  type: string;
  status: 'fetched' | 'to_submit';
  lookupId?: string;
  record?: Record<string, unknown>;
  reason?: string;
  error?: { code: string };
}

describe.each(DATABASE_KINDS)('procedures and cases on %s', (kind) => {
  let gw: TestGateway;
  const tokenFor = tokenCache(() => gw);

  beforeAll(async () => {
    gw = await startTestGateway(kind, { beforeRoutes: registerSlowProviders });
    await register(gw, {
      types: [
        testType('slow-a', { kind: 'builtin', name: 'slow-300' }),
        testType('slow-b', { kind: 'builtin', name: 'slow-600' }),
        testType('slow-c', { kind: 'builtin', name: 'slow-900' }),
        testType('broken-register', { kind: 'builtin', name: 'broken' }),
      ],
      procedures: [
        { code: 'slow-procedure', title: 'slow', materials: ['slow-a', 'slow-b', 'slow-c'] },
        { code: 'partly-broken', title: 'partly broken', materials: ['slow-a', 'broken-register', 'household-registration'] },
        { code: 'background-check', title: 'background', materials: ['criminal-record', 'withdrawn-type', 'business-licence'] },
      ],
    });
  });
  afterAll(async () => gw?.close());

  const createCase = async (clientId: string, body: Record<string, unknown>) => post(gw, '/v1/cases', await tokenFor(clientId), body);
  const person = (pred: (holds: string[]) => boolean) => gw.subjects.find((s) => s.kind === 'person' && pred(s.holds))!;

  it('lists every procedure with its materials, to consumers only', async () => {
    const res = await gw.app.inject({
      url: '/v1/procedures',
      headers: { authorization: `Bearer ${await tokenFor('housing-fund-window')}` },
    });
    expect(res.statusCode).toBe(200);
    const { procedures } = res.json();
    for (const p of DEMO_PROCEDURES) expect(procedures).toContainEqual({ code: p.code, title: p.title, materials: p.materials });
    const auditor = await gw.app.inject({ url: '/v1/procedures', headers: { authorization: `Bearer ${await tokenFor('audit-office')}` } });
    expect(auditor.statusCode).toBe(403);
    expect(problemOf(auditor).code).toBe('FORBIDDEN');
  });

  it.each(DEMO_PROCEDURES.map((p) => [p.code, p] as const))(
    '%s: fetches in one call every material the demo holds for the applicant',
    async (code, procedure) => {
      const subjectKind = DEMO_PROCEDURE_SUBJECT_KINDS[code];
      const candidates = gw.subjects.filter((s) => s.kind === subjectKind);
      // One applicant who holds everything, and some who lack something.
      const complete = candidates.find((s) => procedure.materials.every((m) => s.holds.includes(m)));
      expect(complete).toBeDefined();
      const lacking = candidates.filter((s) => !procedure.materials.every((m) => s.holds.includes(m))).slice(0, 4);
      let notHeld = 0;
      for (const [k, applicant] of [complete!, ...lacking].entries()) {
        const caseId = `${code.slice(0, 8)}-${k}`;
        const res = await createCase(WINDOW[code]!, {
          procedure: code,
          applicant: { kind: applicant.kind, id: applicant.id },
          caseId,
          officer: 'w01',
        });
        expect(res.statusCode).toBe(201);
        const body = res.json();
        expect(body).toMatchObject({ caseId, procedure: code, applicant: { kind: applicant.kind } });
        expect(body.applicant.id).not.toBe(applicant.id);
        const materials = body.materials as Material[];
        expect(materials.map((m) => m.type)).toEqual(procedure.materials);
        for (const m of materials) {
          const expected = NOT_GRANTED[code]?.includes(m.type) ? 'not_granted' : applicant.holds.includes(m.type) ? 'fetched' : 'not_held';
          expect(m.status === 'fetched' ? 'fetched' : m.reason, `${code} ${m.type}`).toBe(expected);
          if (expected === 'not_held') notHeld += 1;
          if (m.status === 'fetched') expect(Object.keys(m.record!).length).toBeGreaterThan(0);
        }
        expect(body.fetched).toBe(materials.filter((m) => m.status === 'fetched').length);
        expect(body.toSubmit).toBe(materials.length - body.fetched);

        // One case.material event per material, the fetched ones keyed by their lookup id.
        const events = await eventsFor(gw, requestIdOf(res));
        expect(events).toHaveLength(procedure.materials.length);
        expect(events.every((e) => e.action === 'case.material' && e.purpose === code && e.case_id === caseId && e.officer === 'w01')).toBe(
          true,
        );
        for (const m of materials) {
          const event = events.find((e) => e.type === m.type)!;
          if (m.status === 'fetched') {
            expect(event).toMatchObject({ id: m.lookupId, outcome: 'ok' });
            expect([...event.fields].sort()).toEqual(Object.keys(kindOfRecord(m.record!)).sort());
          } else {
            expect(event).toMatchObject({ outcome: m.reason === 'not_held' ? 'not_found' : 'denied', error_code: m.error!.code });
          }
        }
      }
      // The applicants who lack something do show it as still to bring.
      expect(notHeld > 0).toBe(
        lacking.some((s) => procedure.materials.some((m) => !s.holds.includes(m) && !NOT_GRANTED[code]?.includes(m))),
      );
    },
  );

  it('says why each material is still to submit: invalid_subject, not_shared', async () => {
    const enterprise = gw.subjects.find((s) => s.kind === 'enterprise')!;
    const res = await createCase('housing-fund-window', {
      procedure: 'housing-fund-withdrawal',
      applicant: { kind: 'enterprise', id: enterprise.id },
      caseId: 'C-ENT-1',
    });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ fetched: 0, toSubmit: 4 });
    expect(res.json().materials.every((m: Material) => m.reason === 'invalid_subject' && m.error?.code === 'INVALID_SUBJECT_ID')).toBe(
      true,
    );

    const applicant = person(() => true);
    const check = await createCase('housing-fund-window', {
      procedure: 'background-check',
      applicant: { kind: 'person', id: applicant.id },
      caseId: 'C-BG-1',
    });
    expect(check.statusCode).toBe(201);
    expect(check.json().materials.map((m: Material) => [m.type, m.reason, m.error?.code])).toEqual([
      ['criminal-record', 'not_shared', 'NOT_GRANTED'],
      ['withdrawn-type', 'not_shared', 'UNKNOWN_TYPE'],
      ['business-licence', 'invalid_subject', 'INVALID_SUBJECT_ID'],
    ]);
    expect(await eventsFor(gw, requestIdOf(check))).toHaveLength(3);
  });

  it('answers an unknown procedure with 404 UNKNOWN_PROCEDURE and an invalid applicant id with 422, both audited', async () => {
    const applicant = person(() => true);
    const unknown = await createCase('housing-fund-window', {
      procedure: 'dragon-taming',
      applicant: { kind: 'person', id: applicant.id },
      caseId: 'C-X-1',
    });
    expect(unknown.statusCode).toBe(404);
    expect(problemOf(unknown).code).toBe('UNKNOWN_PROCEDURE');
    expect(await eventsFor(gw, problemOf(unknown).requestId)).toMatchObject([
      { action: 'case.material', outcome: 'denied', purpose: 'dragon-taming', error_code: 'UNKNOWN_PROCEDURE' },
    ]);

    const invalid = await createCase('housing-fund-window', {
      procedure: 'housing-fund-withdrawal',
      applicant: { kind: 'person', id: '110105194912310021' },
      caseId: 'C-X-2',
    });
    expect(invalid.statusCode).toBe(422);
    expect(problemOf(invalid).code).toBe('INVALID_SUBJECT_ID');
    expect(await eventsFor(gw, problemOf(invalid).requestId)).toMatchObject([
      { action: 'case.material', error_code: 'INVALID_SUBJECT_ID' },
    ]);

    const extra = await createCase('housing-fund-window', {
      procedure: 'housing-fund-withdrawal',
      applicant: { kind: 'person', id: applicant.id },
      caseId: 'C-X-3',
      fields: ['name'],
    });
    expect(extra.statusCode).toBe(400);
    expect(problemOf(extra).code).toBe('VALIDATION_FAILED');
  });

  it('takes about as long as the slowest provider, not the sum of all', async () => {
    const applicant = person(() => true);
    const started = performance.now();
    const res = await createCase('housing-fund-window', {
      procedure: 'slow-procedure',
      applicant: { kind: 'person', id: applicant.id },
      caseId: 'C-SLOW-1',
    });
    const elapsed = performance.now() - started;
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ fetched: 3, toSubmit: 0 });
    const sum = 300 + 600 + 900;
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(sum * 0.7);
  });

  it('returns the other materials when one provider fails, the failed one with its error', async () => {
    const applicant = person((holds) => holds.includes('household-registration'));
    const res = await createCase('housing-fund-window', {
      procedure: 'partly-broken',
      applicant: { kind: 'person', id: applicant.id },
      caseId: 'C-BRK-1',
    });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body.materials.map((m: Material) => [m.type, m.status === 'fetched' ? 'fetched' : m.reason])).toEqual([
      ['slow-a', 'fetched'],
      ['broken-register', 'provider_failed'],
      // The housing-fund grant covers its own procedure, not this one.
      ['household-registration', 'not_granted'],
    ]);
    expect(body.materials[0].record).toEqual(TEST_RECORD);
    expect(body.materials[1]).toMatchObject({ error: { code: 'PROVIDER_ERROR', status: 502, requestId: requestIdOf(res) } });
    expect(body.materials[1].detail).not.toContain('the department is down');
    const events = await eventsFor(gw, requestIdOf(res));
    expect(events.map((e) => [e.type, e.outcome, e.error_code])).toEqual(
      expect.arrayContaining([
        ['slow-a', 'ok', null],
        ['broken-register', 'error', 'PROVIDER_ERROR'],
        ['household-registration', 'denied', 'PURPOSE_NOT_ALLOWED'],
      ]),
    );
  });
});

/** The fields a record holds: a certificate's keys, or the columns of a record type's rows. */
function kindOfRecord(record: Record<string, unknown>): Record<string, unknown> {
  const rows = record.rows;
  return Array.isArray(rows) ? ((rows[0] as Record<string, unknown> | undefined) ?? {}) : record;
}
