/**
 * Consent and preview (ARCHITECTURE.md "Consent", issue 15). Pure: plain values in, plain values
 * out, with `now` passed in so that expiry is tested without waiting.
 */
import type { Schema } from '../openapi.js';

/** What is stored; `expired` is never stored (see `statusAt`). */
export type StoredConsentStatus = 'pending' | 'approved' | 'denied' | 'used';
export type ConsentStatus = StoredConsentStatus | 'expired';

/** One request for a subject's consent. The subject is only its HMAC and masked form. */
export interface Consent {
  consentId: string;
  /** The asking department and client. */
  consumer: string;
  clientId: string;
  type: string;
  /** The fields the grant resolved for the request: exactly what a use of it releases. */
  fields: string[];
  purpose: string;
  caseId: string;
  officer: string | null;
  subjectKind: 'person' | 'enterprise';
  subjectHmac: string;
  subjectMasked: string;
  status: StoredConsentStatus;
  requestedAt: string;
  expiresAt: string;
  decidedAt: string | null;
  usedAt: string | null;
}

/**
 * The status as of `now`: a request nobody decided, or an approval nobody used, lapses at
 * `expiresAt` (CONSENT_TTL_HOURS after the request). Denied and used consents keep their status.
 */
export function statusAt(consent: Pick<Consent, 'status' | 'expiresAt'>, now: Date): ConsentStatus {
  const open = consent.status === 'pending' || consent.status === 'approved';
  return open && new Date(consent.expiresAt) <= now ? 'expired' : consent.status;
}

export function expiresAt(requestedAt: Date, ttlHours: number): Date {
  return new Date(requestedAt.getTime() + ttlHours * 3_600_000);
}

/** The request a consent may be used for: who asks, about whom, for what. */
export interface ConsentUse {
  consumer: string;
  type: string;
  subjectHmac: string;
  purpose: string;
  caseId: string;
  fields: readonly string[];
}

/**
 * Why `consent` cannot release data for `use` now, or null when it can. The person approved one
 * request; any difference — department, type, subject, purpose, case or fields — is another request.
 */
export function unusableBecause(consent: Consent, use: ConsentUse, now: Date): string | null {
  if (consent.consumer !== use.consumer) return 'the consent was requested by another department';
  if (consent.type !== use.type) return `the consent is for type ${consent.type}, not ${use.type}`;
  if (consent.subjectHmac !== use.subjectHmac) return 'the consent is for another subject';
  if (consent.purpose !== use.purpose || consent.caseId !== use.caseId) return 'the consent is for another purpose or case';
  if (!sameFields(consent.fields, use.fields))
    return `the consent covers the fields ${consent.fields.join(', ')}, not ${[...use.fields].join(', ')}`;
  const status = statusAt(consent, now);
  if (status !== 'approved') return `the consent is ${status}`;
  return null;
}

function sameFields(a: readonly string[], b: readonly string[]): boolean {
  const set = new Set(a);
  return set.size === new Set(b).size && b.every((f) => set.has(f));
}

/** What the asking department sees. */
export type ConsentView = Schema<'Consent'>;

export function viewOf(consent: Consent, now: Date): ConsentView {
  const view: ConsentView = {
    consentId: consent.consentId,
    status: statusAt(consent, now),
    type: consent.type,
    fields: consent.fields,
    purpose: consent.purpose,
    caseId: consent.caseId,
    requestedAt: consent.requestedAt,
    expiresAt: consent.expiresAt,
  };
  if (consent.decidedAt !== null) view.decidedAt = consent.decidedAt;
  return view;
}

/** What the consent flow needs from the app (issue 15): its time-to-live and its clock. */
export interface ConsentSettings {
  /** CONSENT_TTL_HOURS: how long a request waits for the subject, and an approval for its use. */
  ttlHours: number;
  /**
   * The clock every consent decision reads (expiry, decision and use times). Replaceable, like
   * `audit.writer`: tests move it forward to see a consent expire.
   */
  now: () => Date;
}
