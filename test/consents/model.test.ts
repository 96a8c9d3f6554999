import { describe, expect, it } from 'vitest';
import { expiresAt, statusAt, unusableBecause, viewOf, type Consent } from '../../src/consents/model.js';

const requested = new Date('2026-03-01T00:00:00.000Z');
const consent = (over: Partial<Consent> = {}): Consent => ({
  consentId: '5d0c7b1e-2a4f-4c8e-9b13-6f7a8e9d0c21',
  consumer: 'housing-fund',
  clientId: 'housing-fund-window',
  type: 'income-tax-record',
  fields: ['month', 'income'],
  purpose: 'housing-fund-withdrawal',
  caseId: 'HF-1',
  officer: null,
  subjectKind: 'person',
  subjectHmac: 'h1',
  subjectMasked: '330*************5X',
  status: 'approved',
  requestedAt: requested.toISOString(),
  expiresAt: expiresAt(requested, 168).toISOString(),
  decidedAt: '2026-03-01T01:00:00.000Z',
  usedAt: null,
  ...over,
});
const use = {
  consumer: 'housing-fund',
  type: 'income-tax-record',
  subjectHmac: 'h1',
  purpose: 'housing-fund-withdrawal',
  caseId: 'HF-1',
  fields: ['income', 'month'],
};
const during = new Date('2026-03-02T00:00:00.000Z');
const after = new Date('2026-03-08T00:00:00.000Z');

describe('consent rules', () => {
  it('lapses pending and approved consents at expiresAt, never denied or used ones', () => {
    expect(expiresAt(requested, 168).toISOString()).toBe('2026-03-08T00:00:00.000Z');
    for (const status of ['pending', 'approved'] as const) {
      expect(statusAt(consent({ status }), during)).toBe(status);
      expect(statusAt(consent({ status }), after)).toBe('expired');
    }
    for (const status of ['denied', 'used'] as const) expect(statusAt(consent({ status }), after)).toBe(status);
  });

  it('allows an approved, unexpired consent for exactly the request it was given for (fields in any order)', () => {
    expect(unusableBecause(consent(), use, during)).toBeNull();
    const refusals: [Partial<typeof use>, Partial<Consent>][] = [
      [{ consumer: 'civil-affairs' }, {}],
      [{ type: 'health-record' }, {}],
      [{ subjectHmac: 'h2' }, {}],
      [{ purpose: 'talent-subsidy' }, {}],
      [{ caseId: 'HF-2' }, {}],
      [{ fields: ['month'] }, {}],
      [{ fields: ['month', 'income', 'taxPaid'] }, {}],
      [{}, { status: 'pending' }],
      [{}, { status: 'denied' }],
      [{}, { status: 'used' }],
    ];
    for (const [useOver, consentOver] of refusals)
      expect(unusableBecause(consent(consentOver), { ...use, ...useOver }, during)).not.toBeNull();
    expect(unusableBecause(consent(), use, after)).toBe('the consent is expired');
  });

  it('shows decidedAt only once decided', () => {
    expect(viewOf(consent({ status: 'pending', decidedAt: null }), during)).not.toHaveProperty('decidedAt');
    expect(viewOf(consent(), after)).toMatchObject({ status: 'expired', decidedAt: '2026-03-01T01:00:00.000Z' });
  });
});
