import { randomUUID } from 'node:crypto';
import { problem } from '../errors.js';
import type { Caller, LookupDeps } from '../lookups/deps.js';
import type { TypeDef } from '../registry/model.js';
import type { Subject } from '../subjects/index.js';
import { expiresAt, unusableBecause, type Consent } from './model.js';
import { claimConsent, findConsent, insertConsent } from './repository.js';

/**
 * Where the lookup flow meets consent (ARCHITECTURE.md "Consent"). The flow calls `consentGate`
 * once the policy has allowed the request and before the provider is asked anything, and
 * `useConsent` once the provider has answered, before anything is released.
 */

/**
 * Not an error: the item cannot be released until the subject decides. Thrown through the
 * audited flow (which lets it pass, its event is already written) to the route, batch or case,
 * which each answer it in their own shape.
 */
export class ConsentPending {
  readonly status = 'pending' as const;
  constructor(
    readonly consentId: string,
    readonly expiresAt: string,
  ) {}
}

/** The facts of the item asking, as the flow knows them. */
export interface GateRequest {
  /** The item's audit event id and action; the request-for-consent event reuses them. */
  eventId: string;
  action: 'lookup' | 'batch.item' | 'case.material' | 'verification';
  type: TypeDef;
  subject: Subject;
  purpose: string;
  caseId: string;
  officer: string | null;
  /** The fields the policy resolved: what the consent covers and a use of it releases. */
  fields: string[];
  consentId: string | undefined;
}

/**
 * For a type without consent: nothing (a `consentId` sent anyway is refused, it cannot be meant).
 * For a consent-required type: without `consentId`, records the request and throws ConsentPending;
 * with one, returns the consent once it is checked to be approved for exactly this request.
 */
export async function consentGate(
  deps: Pick<LookupDeps, 'audit' | 'consents'>,
  caller: Caller,
  gate: GateRequest,
): Promise<Consent | null> {
  const required = gate.type.consent === 'required';
  if (!required) {
    if (gate.consentId !== undefined) throw problem('CONSENT_NOT_VALID', `type ${gate.type.type} needs no consent; leave out consentId`);
    return null;
  }
  // A yes/no answer about the data is still about the data: only a released lookup can carry a consent.
  if (gate.action === 'verification')
    throw problem('CONSENT_NOT_VALID', `type ${gate.type.type} needs the subject's consent: use POST /v1/lookups`);

  const { principal } = caller;
  const now = deps.consents.settings.now();
  const subject = deps.audit.describeSubject(gate.subject);
  if (gate.consentId === undefined) return requestConsent(deps, caller, gate, now, subject);

  const consent = await findConsent(deps.consents.db, gate.consentId);
  if (!consent) throw problem('CONSENT_NOT_VALID', 'no such consent');
  const why = unusableBecause(
    consent,
    {
      consumer: principal.department,
      type: gate.type.type,
      subjectHmac: subject.hmac,
      purpose: gate.purpose,
      caseId: gate.caseId,
      fields: gate.fields,
    },
    now,
  );
  if (why !== null) throw problem('CONSENT_NOT_VALID', why);
  return consent;
}

async function requestConsent(
  deps: Pick<LookupDeps, 'audit' | 'consents'>,
  caller: Caller,
  gate: GateRequest,
  now: Date,
  subject: { hmac: string; masked: string | null },
): Promise<never> {
  const { principal } = caller;
  const consentId = randomUUID();
  const until = expiresAt(now, deps.consents.settings.ttlHours).toISOString();
  // A case material keeps its own action, so that every material of a case has its `case.material`
  // event (the once-only report counts them); it is not released, hence `denied`, with its reason.
  const asMaterial = gate.action === 'case.material';
  // The event first, as for admin changes: no consent exists without its event.
  await deps.audit.record(caller, {
    id: gate.eventId,
    action: asMaterial ? 'case.material' : 'consent.request',
    outcome: asMaterial ? 'denied' : 'ok',
    type: gate.type.type,
    provider: gate.type.provider,
    purpose: gate.purpose,
    caseId: gate.caseId,
    officer: gate.officer,
    subject: gate.subject,
    fields: gate.fields,
    detail: { consentId, expiresAt: until, via: gate.action, reason: 'awaiting_consent' },
  });
  await insertConsent(deps.consents.db, {
    consentId,
    consumer: principal.department,
    clientId: principal.clientId,
    type: gate.type.type,
    fields: gate.fields,
    purpose: gate.purpose,
    caseId: gate.caseId,
    officer: gate.officer,
    subjectKind: gate.subject.kind,
    subjectHmac: subject.hmac,
    subjectMasked: subject.masked ?? '',
    requestedAt: now.toISOString(),
    expiresAt: until,
  });
  throw new ConsentPending(consentId, until);
}

/**
 * Marks the checked consent used, after the provider answered and before the record is released.
 * Of concurrent repeats exactly one gets here first; the others are refused and release nothing.
 */
export async function useConsent(deps: Pick<LookupDeps, 'consents'>, consent: Consent): Promise<void> {
  const claimed = await claimConsent(deps.consents.db, consent.consentId, deps.consents.settings.now());
  if (!claimed) throw problem('CONSENT_NOT_VALID', 'the consent has already been used (or lapsed meanwhile)');
}
