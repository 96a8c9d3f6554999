import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CREDIT_CODE_ALPHABET,
  creditCodeCheckChar,
  generateCreditCode,
  organisationCodeCheckChar,
  validateCreditCode,
} from '../../src/subjects/credit-code.js';

function reasonOf(id: string): string {
  const result = validateCreditCode(id);
  return result.ok ? 'ok' : result.reason;
}

const alphabetString = (length: number) =>
  fc.string({ unit: fc.constantFrom(...CREDIT_CODE_ALPHABET), minLength: length, maxLength: length });

const creditCodeArb = fc
  .record({ prefix: alphabetString(2), region: fc.integer({ min: 0, max: 999_999 }), body: alphabetString(9) })
  .map(({ prefix, region, body }) => generateCreditCode({ prefix, region: String(region).padStart(6, '0'), body }));

describe('validateCreditCode', () => {
  it('accepts a well-known public test value', () => {
    expect(validateCreditCode('91350100M000100Y43')).toEqual({ ok: true, id: '91350100M000100Y43' });
    expect(creditCodeCheckChar('91350100M000100Y4')).toBe('3');
    // Its body is a real GB 11714 organisation code too.
    expect(organisationCodeCheckChar('M000100Y')).toBe('4');
  });

  it('accepts codes built by the generator, with the default 91 prefix', () => {
    const code = generateCreditCode({ region: '330106', body: 'MA2B3C4D5' });
    expect(code.slice(0, 17)).toBe('91330106MA2B3C4D5');
    expect(validateCreditCode(code)).toEqual({ ok: true, id: code });
  });

  it('maps a check value of 31 to 0', () => {
    // Search the generator's space for a code whose weighted sum is a multiple of 31.
    let found: string | undefined;
    for (let n = 0; n < 1000 && found === undefined; n++) {
      const code = generateCreditCode({ region: '330106', body: String(n).padStart(9, '0') });
      if (code.endsWith('0')) found = code;
    }
    expect(found).toBeDefined();
    expect(validateCreditCode(found ?? '').ok).toBe(true);
  });

  it('normalises lower case', () => {
    expect(validateCreditCode('91350100m000100y43')).toEqual({ ok: true, id: '91350100M000100Y43' });
  });

  it('rejects a wrong check character', () => {
    expect(reasonOf('91350100M000100Y44')).toBe('check character mismatch');
  });

  it('rejects letters outside the alphabet, non-digit divisions, bad lengths and whitespace', () => {
    expect(reasonOf('91350100I000100Y43')).toMatch(/character 9 is outside/);
    expect(reasonOf('91350100O000100Y43')).toMatch(/outside/);
    expect(reasonOf('913501A0M000100Y43')).toMatch(/administrative division/);
    expect(reasonOf('91350100M000100Y4')).toBe('must be 18 characters, got 17');
    expect(reasonOf('91350100M000100Y43 ')).toBe('must not contain whitespace');
  });

  it('generator refuses malformed parts', () => {
    expect(() => generateCreditCode({ prefix: '9', region: '350100', body: 'M000100Y4' })).toThrow(RangeError);
    expect(() => generateCreditCode({ region: '35010', body: 'M000100Y4' })).toThrow(RangeError);
    expect(() => generateCreditCode({ region: '350100', body: 'M000100Z4' })).toThrow(RangeError);
    expect(() => creditCodeCheckChar('short')).toThrow(RangeError);
  });

  it('property: every generated code validates', () => {
    fc.assert(fc.property(creditCodeArb, (code) => validateCreditCode(code).ok));
  });

  it('property: changing any single character of a valid code makes it fail', () => {
    const edit = fc.record({
      code: creditCodeArb,
      position: fc.integer({ min: 0, max: 17 }),
      replacement: fc.constantFrom(...CREDIT_CODE_ALPHABET),
    });
    fc.assert(
      fc.property(edit, ({ code, position, replacement }) => {
        fc.pre(code.charAt(position) !== replacement);
        const changed = code.slice(0, position) + replacement + code.slice(position + 1);
        return !validateCreditCode(changed).ok;
      }),
    );
  });
});
