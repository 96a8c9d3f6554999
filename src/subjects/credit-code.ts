/**
 * Unified social credit code (统一社会信用代码), GB 32100-2015.
 * Layout: 1 registration-authority code, 1 organisation-category code, 6-digit administrative
 * division, 9-character organisation code body (GB 11714), 1 check character (MOD 31).
 */
import type { IdCheckResult } from './resident-id.js';

// I, O, Z, S and V are left out because they are easily mistaken for 1, 0, 2, 5 and U.
export const CREDIT_CODE_ALPHABET = '0123456789ABCDEFGHJKLMNPQRTUWXY';

const WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28] as const;

function firstForeignChar(text: string): number {
  for (let i = 0; i < text.length; i++) {
    if (!CREDIT_CODE_ALPHABET.includes(text.charAt(i))) return i;
  }
  return -1;
}

export function creditCodeCheckChar(first17: string): string {
  if (first17.length !== 17 || firstForeignChar(first17) !== -1) {
    throw new RangeError('creditCodeCheckChar needs exactly 17 characters of the credit-code alphabet');
  }
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += CREDIT_CODE_ALPHABET.indexOf(first17.charAt(i)) * (WEIGHTS[i] ?? 0);
  const check = 31 - (sum % 31);
  return CREDIT_CODE_ALPHABET.charAt(check === 31 ? 0 : check);
}

/**
 * Checks a credit code and normalises lower case to upper case. Whitespace is rejected rather
 * than trimmed so that what is hashed and audited is exactly what the caller sent.
 * The registration-authority and category characters are not checked against the
 * standard's tables: those tables have grown since 2015 and a stale copy would refuse real codes.
 */
export function validateCreditCode(id: string): IdCheckResult {
  if (typeof id !== 'string') return { ok: false, reason: 'must be a string' };
  if (/\s/.test(id)) return { ok: false, reason: 'must not contain whitespace' };
  if (id.length !== 18) return { ok: false, reason: `must be 18 characters, got ${id.length}` };
  const normalised = id.toUpperCase();
  const foreign = firstForeignChar(normalised);
  if (foreign !== -1) {
    return {
      ok: false,
      reason: `character ${foreign + 1} is outside the credit-code alphabet (digits and capital letters except I, O, Z, S, V)`,
    };
  }
  if (!/^\d{6}$/.test(normalised.slice(2, 8))) {
    return { ok: false, reason: 'characters 3-8 must be an administrative division code (6 digits)' };
  }
  if (creditCodeCheckChar(normalised.slice(0, 17)) !== normalised.charAt(17)) {
    return { ok: false, reason: 'check character mismatch' };
  }
  return { ok: true, id: normalised };
}

/**
 * Check character of a GB 11714 organisation code (the body's 9th character), computed over
 * the body's first 8 characters. Not enforced by validateCreditCode; used to make demo bodies look real.
 */
export function organisationCodeCheckChar(first8: string): string {
  if (!/^[0-9A-Z]{8}$/.test(first8)) throw new RangeError('organisationCodeCheckChar needs 8 digits or capital letters');
  const weights = [3, 7, 9, 10, 5, 8, 4, 2];
  let sum = 0;
  for (let i = 0; i < 8; i++) sum += parseInt(first8.charAt(i), 36) * (weights[i] ?? 0);
  const check = 11 - (sum % 11);
  return check === 10 ? 'X' : check === 11 ? '0' : String(check);
}

/** Builds a checksum-valid credit code; throws RangeError on malformed parts. */
export function generateCreditCode(opts: { prefix?: string; region: string; body: string }): string {
  const prefix = opts.prefix ?? '91';
  if (prefix.length !== 2 || firstForeignChar(prefix) !== -1) {
    throw new RangeError('prefix must be 2 characters of the credit-code alphabet');
  }
  if (!/^\d{6}$/.test(opts.region)) throw new RangeError('region must be 6 digits');
  if (opts.body.length !== 9 || firstForeignChar(opts.body) !== -1) {
    throw new RangeError('body must be 9 characters of the credit-code alphabet');
  }
  const first17 = `${prefix}${opts.region}${opts.body}`;
  return first17 + creditCodeCheckChar(first17);
}
