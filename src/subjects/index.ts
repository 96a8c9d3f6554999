/**
 * Data subjects: people (resident ID) and enterprises (unified social credit code).
 * The raw id is only ever used to reach a provider; the audit trail keeps the keyed HMAC
 * (for search) and the masked form (for display).
 */
import { createHmac } from 'node:crypto';
import type { SubjectKind } from '../registry/model.js';
import { validateCreditCode } from './credit-code.js';
import { validateResidentId } from './resident-id.js';

export type { IdCheckResult } from './resident-id.js';
export { generateResidentId, residentIdCheckChar, validateResidentId } from './resident-id.js';
export {
  CREDIT_CODE_ALPHABET,
  creditCodeCheckChar,
  generateCreditCode,
  organisationCodeCheckChar,
  validateCreditCode,
} from './credit-code.js';

export interface Subject {
  kind: SubjectKind;
  /** Normalised (upper-case) identifier. */
  id: string;
}

export type ParseSubjectResult = { ok: true; subject: Subject } | { ok: false; reason: string };

const NOUN: Record<SubjectKind, string> = { person: 'a person', enterprise: 'an enterprise' };

const ID_NAME: Record<SubjectKind, string> = {
  person: 'resident ID',
  enterprise: 'unified social credit code',
};

// How much of an id stays visible: enough for an officer to tell two subjects apart on screen
// (region prefix, check characters), never the birth date or the organisation code body.
const KEEP: Record<SubjectKind, { head: number; tail: number }> = {
  person: { head: 3, tail: 2 },
  enterprise: { head: 4, tail: 2 },
};

export function isSubjectKind(kind: unknown): kind is SubjectKind {
  return kind === 'person' || kind === 'enterprise';
}

function validateId(kind: SubjectKind, id: string, now: Date | undefined) {
  return kind === 'person' ? validateResidentId(id, now) : validateCreditCode(id);
}

/**
 * Checks a subject from a request body. With `expectedKind` (the type's or procedure's subject
 * kind) a subject of the other kind fails, so a credit code is never sent to a provider of
 * person records.
 */
export function parseSubject(subject: { kind: string; id: string }, expectedKind?: SubjectKind, now?: Date): ParseSubjectResult {
  const { kind, id } = subject;
  if (!isSubjectKind(kind)) return { ok: false, reason: 'subject kind must be "person" or "enterprise"' };
  if (expectedKind !== undefined && kind !== expectedKind) {
    return { ok: false, reason: `this type takes ${NOUN[expectedKind]} (${ID_NAME[expectedKind]}), not ${NOUN[kind]}` };
  }
  const checked = validateId(kind, id, now);
  if (checked.ok) return { ok: true, subject: { kind, id: checked.id } };
  const other: SubjectKind = kind === 'person' ? 'enterprise' : 'person';
  // A swapped kind is the commonest integration mistake; saying so saves a support call.
  const hint = validateId(other, id, now).ok ? ` (it looks like a ${ID_NAME[other]}: is the kind "${other}"?)` : '';
  return { ok: false, reason: `invalid ${ID_NAME[kind]}: ${checked.reason}${hint}` };
}

/** Display form of an id: same length, the middle replaced by `*`. */
export function maskSubjectId(subject: Subject): string {
  const { head, tail } = KEEP[subject.kind];
  const id = subject.id;
  if (id.length <= head + tail) return '*'.repeat(id.length);
  return id.slice(0, head) + '*'.repeat(id.length - head - tail) + id.slice(id.length - tail);
}

/** Keyed, searchable pseudonym of a subject: hex HMAC-SHA256 over `kind:ID` (ID upper-cased). */
export function subjectHmac(key: Buffer | string, subject: Subject): string {
  return createHmac('sha256', key).update(`${subject.kind}:${subject.id.toUpperCase()}`).digest('hex');
}
