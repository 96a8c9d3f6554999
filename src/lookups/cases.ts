import type { AppError, ErrorCode, ProblemBody } from '../errors.js';
import { problem, problemBody } from '../errors.js';
import type { RegistrySnapshot } from '../registry/snapshot.js';
import { maskSubjectId } from '../subjects/index.js';
import { assertValidSubject, fetchAll } from './batch.js';
import type { Caller, LookupDeps } from './deps.js';
import type { FetchItem } from './flow.js';

export interface CaseRequest {
  procedure: string;
  applicant: { kind: string; id: string };
  caseId: string;
  officer?: string;
}

/** Why the applicant still has to bring a material (gateway.yaml CaseMaterialToSubmit). */
export type ToSubmitReason = 'not_held' | 'not_granted' | 'provider_failed' | 'not_shared' | 'invalid_subject' | 'awaiting_consent';

export type CaseMaterial =
  | { type: string; status: 'fetched'; lookupId: string; record: Record<string, unknown>; proof: string; disputed: boolean }
  | { type: string; status: 'to_submit'; reason: ToSubmitReason; detail: string; error: ProblemBody }
  | { type: string; status: 'to_submit'; reason: 'awaiting_consent'; detail: string; consentId: string };

const REASON_BY_CODE: Partial<Record<ErrorCode, ToSubmitReason>> = {
  RECORD_NOT_FOUND: 'not_held',
  NOT_GRANTED: 'not_granted',
  PURPOSE_NOT_ALLOWED: 'not_granted',
  FIELD_NOT_ALLOWED: 'not_granted',
  UNKNOWN_TYPE: 'not_shared',
  INVALID_SUBJECT_ID: 'invalid_subject',
};

/**
 * The reason a failed material is the applicant's to bring. NOT_GRANTED covers both "no grant"
 * and `sharing: none`; only the catalogue tells them apart. Anything unexpected is a failure on
 * the way to the provider, never the applicant's fault.
 */
export function reasonFor(error: AppError, sharing: string | undefined): ToSubmitReason {
  if (error.code === 'NOT_GRANTED' && sharing === 'none') return 'not_shared';
  return REASON_BY_CODE[error.code] ?? 'provider_failed';
}

/**
 * The "one trip": every material of the procedure fetched in parallel for the applicant, with
 * the procedure code as the purpose. One `case.material` event per material.
 */
export async function runCase(deps: LookupDeps, caller: Caller, snapshot: RegistrySnapshot, body: CaseRequest) {
  const procedure = snapshot.procedures.get(body.procedure);
  if (!procedure) throw problem('UNKNOWN_PROCEDURE', `procedure ${body.procedure} is not registered`);
  const applicant = assertValidSubject(body.applicant);

  const items: FetchItem[] = procedure.materials.map((type) => ({
    type,
    subject: body.applicant,
    purpose: procedure.code,
    caseId: body.caseId,
    officer: body.officer,
    // The reason is recorded in the event, so reports read it back instead of re-deriving it.
    failureDetail: (error) => ({ reason: reasonFor(error, snapshot.types.get(type)?.sharing) }),
  }));
  const settled = await fetchAll(deps, caller, snapshot, items, 'case.material');
  const { requestId } = caller;
  const materials = settled.map((s, k): CaseMaterial => {
    const type = procedure.materials[k]!;
    if (s.ok)
      return {
        type,
        status: 'fetched',
        lookupId: s.fetched.lookupId,
        record: s.fetched.record,
        proof: s.fetched.proof,
        disputed: s.fetched.disputed,
      };
    // A consent was requested: the material waits for the applicant's decision in the portal.
    if ('pending' in s) {
      const detail = `awaiting the applicant's consent until ${s.pending.expiresAt}`;
      return { type, status: 'to_submit', reason: 'awaiting_consent', detail, consentId: s.pending.consentId };
    }
    const reason = reasonFor(s.error, snapshot.types.get(type)?.sharing);
    return { type, status: 'to_submit', reason, detail: s.error.message, error: problemBody(s.error, requestId) };
  });
  const fetched = materials.filter((m) => m.status === 'fetched').length;
  return {
    caseId: body.caseId,
    procedure: procedure.code,
    applicant: { kind: applicant.kind, id: maskSubjectId(applicant) },
    materials,
    fetched,
    toSubmit: materials.length - fetched,
  };
}
