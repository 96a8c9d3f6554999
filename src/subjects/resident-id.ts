/**
 * Resident identity number (公民身份号码), GB 11643-1999.
 * Layout: 6-digit region, 8-digit birth date YYYYMMDD, 3-digit sequence (odd = male),
 * 1 check character by ISO 7064 MOD 11-2.
 */

/** Outcome of checking an identifier; `id` is the normalised form (upper case). */
export type IdCheckResult = { ok: true; id: string } | { ok: false; reason: string };

const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2] as const;
const CHECK_CHARS = '10X98765432';

// Province-level codes of GB/T 2260; 71 (Taiwan), 81 (Hong Kong) and 82 (Macao) are issued to residents too.
export const PROVINCE_CODES: ReadonlySet<string> = new Set([
  '11',
  '12',
  '13',
  '14',
  '15',
  '21',
  '22',
  '23',
  '31',
  '32',
  '33',
  '34',
  '35',
  '36',
  '37',
  '41',
  '42',
  '43',
  '44',
  '45',
  '46',
  '50',
  '51',
  '52',
  '53',
  '54',
  '61',
  '62',
  '63',
  '64',
  '65',
  '71',
  '81',
  '82',
]);

// The registry serves a Chinese population: "today" is the calendar day in China Standard Time
// (UTC+8, no daylight saving), so a baby registered this morning in Beijing is not "in the future".
const CST_OFFSET_MS = 8 * 60 * 60 * 1000;

export function residentIdCheckChar(first17: string): string {
  if (!/^\d{17}$/.test(first17)) throw new RangeError('residentIdCheckChar needs exactly 17 digits');
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += Number(first17.charAt(i)) * (WEIGHTS[i] ?? 0);
  return CHECK_CHARS.charAt(sum % 11);
}

/** Why a YYYYMMDD birth date is unacceptable, or undefined when it is fine. Future dates are the caller's concern. */
function birthDateProblem(yyyymmdd: string): string | undefined {
  if (!/^\d{8}$/.test(yyyymmdd)) return `birth date ${yyyymmdd} must be 8 digits (YYYYMMDD)`;
  const year = Number(yyyymmdd.slice(0, 4));
  const month = Number(yyyymmdd.slice(4, 6));
  const day = Number(yyyymmdd.slice(6, 8));
  const date = new Date(Date.UTC(year, month - 1, day));
  // Date.UTC rolls 30 February over into March, so a round trip exposes impossible dates.
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) {
    return `birth date ${yyyymmdd} is not a real date`;
  }
  if (year < 1900) return `birth date ${yyyymmdd} is before 1900`;
  return undefined;
}

function chinaToday(now: Date): string {
  const cst = new Date(now.getTime() + CST_OFFSET_MS);
  const month = String(cst.getUTCMonth() + 1).padStart(2, '0');
  const day = String(cst.getUTCDate()).padStart(2, '0');
  return `${cst.getUTCFullYear()}${month}${day}`;
}

function regionProblem(region: string): string | undefined {
  if (!/^\d{6}$/.test(region)) return 'region code must be 6 digits';
  const province = region.slice(0, 2);
  if (!PROVINCE_CODES.has(province)) return `region code starts with ${province}, which is not a province-level code`;
  return undefined;
}

/**
 * Checks a resident ID. A trailing lower-case `x` is accepted and normalised; anything else
 * that is not exactly 18 characters (surrounding whitespace included) is rejected, because a
 * gateway that silently trims would log and hash a different string from the one it was sent.
 */
export function validateResidentId(id: string, now: Date = new Date()): IdCheckResult {
  if (typeof id !== 'string') return { ok: false, reason: 'must be a string' };
  if (/\s/.test(id)) return { ok: false, reason: 'must not contain whitespace' };
  if (id.length !== 18) return { ok: false, reason: `must be 18 characters, got ${id.length}` };
  const normalised = id.endsWith('x') ? `${id.slice(0, 17)}X` : id;
  if (!/^\d{17}[\dX]$/.test(normalised)) {
    return { ok: false, reason: 'must be 17 digits followed by a digit or X' };
  }
  const region = regionProblem(normalised.slice(0, 6));
  if (region !== undefined) return { ok: false, reason: region };
  const birthDate = normalised.slice(6, 14);
  const dateProblem = birthDateProblem(birthDate);
  if (dateProblem !== undefined) return { ok: false, reason: dateProblem };
  if (birthDate > chinaToday(now)) return { ok: false, reason: `birth date ${birthDate} is in the future` };
  if (residentIdCheckChar(normalised.slice(0, 17)) !== normalised.charAt(17)) {
    return { ok: false, reason: 'check digit mismatch' };
  }
  return { ok: true, id: normalised };
}

/** Builds a checksum-valid resident ID; throws RangeError on inputs no real ID could have. */
export function generateResidentId(opts: { region: string; birthDate: string; sequence: number }): string {
  const region = regionProblem(opts.region);
  if (region !== undefined) throw new RangeError(region);
  const date = birthDateProblem(opts.birthDate);
  if (date !== undefined) throw new RangeError(date);
  if (!Number.isInteger(opts.sequence) || opts.sequence < 0 || opts.sequence > 999) {
    throw new RangeError('sequence must be an integer from 0 to 999');
  }
  const first17 = `${opts.region}${opts.birthDate}${String(opts.sequence).padStart(3, '0')}`;
  return first17 + residentIdCheckChar(first17);
}
