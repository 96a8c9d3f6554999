import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateResidentId, PROVINCE_CODES, residentIdCheckChar, validateResidentId } from '../../src/subjects/resident-id.js';

const NOW = new Date('2025-06-30T12:00:00Z');
/** The province-level codes the validator accepts (GB/T 2260). */
const PROVINCES = [...PROVINCE_CODES];

function reasonOf(id: string, now = NOW): string {
  const result = validateResidentId(id, now);
  return result.ok ? 'ok' : result.reason;
}

const yyyymmdd = (d: Date) => d.toISOString().slice(0, 10).replaceAll('-', '');

const residentIdArb = fc
  .record({
    province: fc.constantFrom(...PROVINCES),
    rest: fc.integer({ min: 0, max: 9999 }),
    birth: fc.date({ min: new Date('1900-01-01T00:00:00Z'), max: new Date('2025-06-29T00:00:00Z'), noInvalidDate: true }),
    sequence: fc.integer({ min: 0, max: 999 }),
  })
  .map(({ province, rest, birth, sequence }) =>
    generateResidentId({ region: province + String(rest).padStart(4, '0'), birthDate: yyyymmdd(birth), sequence }),
  );

describe('validateResidentId', () => {
  it('accepts a well-known public test value', () => {
    expect(validateResidentId('11010519491231002X', NOW)).toEqual({ ok: true, id: '11010519491231002X' });
    expect(residentIdCheckChar('11010519491231002')).toBe('X');
  });

  it('accepts ids built by the generator', () => {
    const id = generateResidentId({ region: '330106', birthDate: '19880512', sequence: 123 });
    expect(id).toHaveLength(18);
    expect(id.slice(0, 17)).toBe('33010619880512123');
    expect(validateResidentId(id, NOW)).toEqual({ ok: true, id });
  });

  it('normalises a lower-case x check character', () => {
    expect(validateResidentId('11010519491231002x', NOW)).toEqual({ ok: true, id: '11010519491231002X' });
  });

  it('rejects a wrong check digit', () => {
    expect(reasonOf('110105194912310021')).toBe('check digit mismatch');
  });

  it('rejects an impossible date', () => {
    const first17 = '11010519900230001';
    expect(reasonOf(first17 + residentIdCheckChar(first17))).toBe('birth date 19900230 is not a real date');
  });

  it('rejects dates before 1900 and after today (China time)', () => {
    const old = '11010518991231001';
    expect(reasonOf(old + residentIdCheckChar(old))).toBe('birth date 18991231 is before 1900');
    const future = '11010520250701001';
    expect(reasonOf(future + residentIdCheckChar(future))).toBe('birth date 20250701 is in the future');
    // 16:30 UTC on 30 June is already 1 July in Beijing.
    expect(reasonOf(future + residentIdCheckChar(future), new Date('2025-06-30T16:30:00Z'))).toBe('ok');
  });

  it('rejects an unknown province code', () => {
    const first17 = '99010519491231002';
    expect(reasonOf(first17 + residentIdCheckChar(first17))).toMatch(/province/);
    const taiwan = '71000019800101001';
    expect(reasonOf(taiwan + residentIdCheckChar(taiwan))).toBe('ok');
  });

  it('rejects wrong lengths, whitespace and letters', () => {
    expect(reasonOf('11010519491231002')).toBe('must be 18 characters, got 17');
    expect(reasonOf('11010519491231002X1')).toBe('must be 18 characters, got 19');
    expect(reasonOf(' 11010519491231002X')).toBe('must not contain whitespace');
    expect(reasonOf('11010519491231002X\n')).toBe('must not contain whitespace');
    expect(reasonOf('1101051949123100XX')).toMatch(/17 digits/);
    expect(reasonOf('')).toBe('must be 18 characters, got 0');
  });

  it('generator refuses inputs no real id could have', () => {
    expect(() => generateResidentId({ region: '000000', birthDate: '19900101', sequence: 1 })).toThrow(RangeError);
    expect(() => generateResidentId({ region: '110105', birthDate: '19900230', sequence: 1 })).toThrow(RangeError);
    expect(() => generateResidentId({ region: '110105', birthDate: '19900101', sequence: 1000 })).toThrow(RangeError);
    expect(() => residentIdCheckChar('1234')).toThrow(RangeError);
  });

  it('property: every generated id validates', () => {
    fc.assert(fc.property(residentIdArb, (id) => validateResidentId(id, NOW).ok));
  });

  it('property: changing any single character of a valid id makes it fail', () => {
    const edit = fc.record({
      id: residentIdArb,
      position: fc.integer({ min: 0, max: 17 }),
      replacement: fc.constantFrom(...'0123456789X'),
    });
    fc.assert(
      fc.property(edit, ({ id, position, replacement }) => {
        fc.pre(id.charAt(position) !== replacement);
        const changed = id.slice(0, position) + replacement + id.slice(position + 1);
        return !validateResidentId(changed, NOW).ok;
      }),
    );
  });
});
