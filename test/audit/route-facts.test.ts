import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bodyPropertiesOf, checkAuditRoute, refusalFacts } from '../../src/audit/route-facts.js';
import { loadGatewayDocument, ref } from '../../src/openapi.js';
import { DATABASE_KINDS } from '../helpers/db.js';
import { startTestGateway, type TestGateway } from '../helpers/app.js';

const schemas = loadGatewayDocument().components.schemas;
const lookupBody = bodyPropertiesOf(ref('LookupRequest'), schemas);

describe('route audit facts (config.audit)', () => {
  it('reads a body schema through $ref', () => {
    expect(Object.keys(lookupBody ?? {})).toEqual(expect.arrayContaining(['type', 'subject', 'purpose', 'caseId', 'officer']));
    expect(bodyPropertiesOf(undefined, schemas)).toBeNull();
  });

  it('accepts a route that declares its members, and a route without body or audit', () => {
    const audit = { action: 'lookup', subject: 'subject', type: 'type', purpose: 'purpose', caseId: 'caseId', officer: 'officer' } as const;
    expect(() => checkAuditRoute('POST /x', { audit }, lookupBody)).not.toThrow();
    expect(() => checkAuditRoute('GET /y', {}, null)).not.toThrow();
  });

  it('refuses a route whose body carries a subject but declares no config.audit, or not as its subject', () => {
    expect(() => checkAuditRoute('POST /x', {}, lookupBody)).toThrow(/declares no config.audit/);
    expect(() => checkAuditRoute('POST /x', { audit: { action: 'lookup' } }, lookupBody)).toThrow(/config.audit.subject must name/);
  });

  it('refuses a declared member the body schema lacks, and the old auditAction key', () => {
    expect(() => checkAuditRoute('POST /x', { audit: { action: 'lookup', subject: 'subject', purpose: 'procedure' } }, lookupBody)).toThrow(
      /config.audit.purpose names body member "procedure"/,
    );
    expect(() => checkAuditRoute('GET /y', { audit: { action: 'lookup', subject: 'subject' } }, null)).toThrow(/lacks/);
    expect(() => checkAuditRoute('GET /y', { auditAction: 'lookup' }, null)).toThrow(/auditAction is gone/);
  });

  it('records only the declared members that fit their contract pattern', () => {
    const facts = refusalFacts(
      { action: 'case.material', subject: 'applicant', purpose: 'procedure', caseId: 'caseId', officer: 'officer' },
      {
        applicant: { kind: 'person', id: 'X' },
        procedure: 'talent-subsidy',
        caseId: 'C-1\r\nInjected',
        officer: '=HYPERLINK()',
        type: 'not-declared',
      },
      { code: 'VALIDATION_FAILED', status: 400 },
    );
    expect(facts).toEqual({
      action: 'case.material',
      outcome: 'denied',
      errorCode: 'VALIDATION_FAILED',
      type: null,
      purpose: 'talent-subsidy',
      caseId: null,
      officer: null,
      subject: { kind: 'person', id: 'X' },
      detail: null,
    });
  });
});

describe.each(DATABASE_KINDS)('the gateway refuses a route without its audit facts on %s', (kind) => {
  let gw: TestGateway;
  let refused: unknown;
  beforeAll(async () => {
    gw = await startTestGateway(kind, {
      demo: false,
      beforeRoutes: (app) => {
        try {
          app.post('/v1/unaudited-lookup', { schema: { body: ref('LookupRequest') } }, async () => ({}));
        } catch (err) {
          refused = err;
        }
      },
    });
  });
  afterAll(async () => gw?.close());

  it('throws while the route is added, naming the route', async () => {
    expect(refused).toBeInstanceOf(Error);
    expect((refused as Error).message).toMatch(
      /^POST \/v1\/unaudited-lookup: its body carries a subject \(subject\) but the route declares no config.audit$/,
    );
    const res = await gw.app.inject({ method: 'POST', url: '/v1/unaudited-lookup', payload: {} });
    expect(res.statusCode).toBe(404);
  });
});
