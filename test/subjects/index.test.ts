import { describe, expect, it } from 'vitest';
import { generateCreditCode, generateResidentId, maskSubjectId, parseSubject, subjectHmac } from '../../src/subjects/index.js';

const NOW = new Date('2025-06-30T12:00:00Z');
const PERSON_ID = '11010519491231002X';
const ENTERPRISE_ID = '91350100M000100Y43';

describe('parseSubject', () => {
  it('returns the normalised subject', () => {
    expect(parseSubject({ kind: 'person', id: '11010519491231002x' }, 'person', NOW)).toEqual({
      ok: true,
      subject: { kind: 'person', id: PERSON_ID },
    });
    expect(parseSubject({ kind: 'enterprise', id: ENTERPRISE_ID.toLowerCase() })).toEqual({
      ok: true,
      subject: { kind: 'enterprise', id: ENTERPRISE_ID },
    });
  });

  it('rejects unknown kinds', () => {
    expect(parseSubject({ kind: 'robot', id: PERSON_ID })).toEqual({
      ok: false,
      reason: 'subject kind must be "person" or "enterprise"',
    });
  });

  it('rejects a subject of the wrong kind for the type', () => {
    expect(parseSubject({ kind: 'enterprise', id: ENTERPRISE_ID }, 'person')).toEqual({
      ok: false,
      reason: 'this type takes a person (resident ID), not an enterprise',
    });
    expect(parseSubject({ kind: 'person', id: PERSON_ID }, 'enterprise', NOW)).toEqual({
      ok: false,
      reason: 'this type takes an enterprise (unified social credit code), not a person',
    });
  });

  it('names the failed rule and hints at a swapped kind', () => {
    const wrong = parseSubject({ kind: 'person', id: '110105194912310021' }, undefined, NOW);
    expect(wrong).toEqual({ ok: false, reason: 'invalid resident ID: check digit mismatch' });
    const swapped = parseSubject({ kind: 'person', id: ENTERPRISE_ID }, undefined, NOW);
    expect(swapped.ok).toBe(false);
    if (!swapped.ok) expect(swapped.reason).toMatch(/looks like a unified social credit code/);
  });

  it('passes `now` to the date rule', () => {
    const id = generateResidentId({ region: '330106', birthDate: '20250701', sequence: 1 });
    expect(parseSubject({ kind: 'person', id }, 'person', NOW).ok).toBe(false);
    expect(parseSubject({ kind: 'person', id }, 'person', new Date('2025-07-02T00:00:00Z')).ok).toBe(true);
  });
});

describe('maskSubjectId', () => {
  it('keeps the first 3 and last 2 characters of a resident ID', () => {
    expect(maskSubjectId({ kind: 'person', id: PERSON_ID })).toBe('110*************2X');
  });

  it('keeps the first 4 and last 2 characters of a credit code', () => {
    expect(maskSubjectId({ kind: 'enterprise', id: ENTERPRISE_ID })).toBe('9135************43');
  });

  it('never reveals the middle (birth date, organisation code body)', () => {
    for (let sequence = 0; sequence < 50; sequence++) {
      const id = generateResidentId({ region: '330106', birthDate: '19870321', sequence });
      const masked = maskSubjectId({ kind: 'person', id });
      expect(masked).toHaveLength(18);
      expect(masked.slice(3, 16)).toBe('*'.repeat(13));
      expect(masked).not.toContain('19870321');
    }
    const code = generateCreditCode({ region: '330106', body: 'MA2B3C4D5' });
    const masked = maskSubjectId({ kind: 'enterprise', id: code });
    expect(masked).toHaveLength(18);
    expect(masked.slice(4, 16)).toBe('*'.repeat(12));
  });

  it('masks everything when an id is too short to keep both ends', () => {
    expect(maskSubjectId({ kind: 'person', id: '1234' })).toBe('****');
  });
});

describe('subjectHmac', () => {
  const person = { kind: 'person' as const, id: PERSON_ID };

  it('is stable hex SHA-256 and ignores the case of the id', () => {
    const digest = subjectHmac('key-one', person);
    expect(digest).toMatch(/^[0-9a-f]{64}$/);
    expect(subjectHmac('key-one', person)).toBe(digest);
    expect(subjectHmac(Buffer.from('key-one'), person)).toBe(digest);
    expect(subjectHmac('key-one', { kind: 'person', id: PERSON_ID.toLowerCase() })).toBe(digest);
  });

  it('depends on the key and on the kind', () => {
    expect(subjectHmac('key-two', person)).not.toBe(subjectHmac('key-one', person));
    expect(subjectHmac('key-one', { kind: 'enterprise', id: PERSON_ID })).not.toBe(subjectHmac('key-one', person));
  });

  it('matches an independently computed HMAC over kind:id', async () => {
    const { createHmac } = await import('node:crypto');
    const expected = createHmac('sha256', 'k').update(`person:${PERSON_ID}`).digest('hex');
    expect(subjectHmac('k', person)).toBe(expected);
  });
});
