import { ConsentPending } from '../consents/gate.js';
import type { AppError, ProblemBody } from '../errors.js';
import { problem, problemBody } from '../errors.js';
import type { RegistrySnapshot } from '../registry/snapshot.js';
import { parseSubject, type Subject } from '../subjects/index.js';
import type { Caller, LookupDeps } from './deps.js';
import { fetchOne, type Fetched, type FetchItem } from './flow.js';

export interface BatchRequest {
  subject: { kind: string; id: string };
  purpose: string;
  caseId: string;
  officer?: string;
  items: Array<{ type: string; fields?: string[]; consentId?: string }>;
}

export type BatchResult =
  | { type: string; status: 'ok'; lookupId: string; record: Record<string, unknown>; proof: string; disputed: boolean; consentId?: string }
  | { type: string; status: 'error'; error: ProblemBody }
  | { type: string; status: 'pending'; consentId: string; expiresAt: string };

/** Each item settled on its own: the record, or the AppError a single lookup would have answered. */
export type Settled = { ok: true; fetched: Fetched } | { ok: false; error: AppError } | { ok: false; pending: ConsentPending };

/**
 * Fetches every item in parallel, each through the full audited flow. Never rejects for one
 * item's failure; rejects with AUDIT_UNAVAILABLE when any event could not be committed, so that
 * the caller releases nothing at all (gateway.yaml: "then no record at all is released").
 */
export async function fetchAll(
  deps: LookupDeps,
  caller: Caller,
  snapshot: RegistrySnapshot,
  items: readonly FetchItem[],
  action: 'batch.item' | 'case.material',
): Promise<Settled[]> {
  const settled = await Promise.all(
    items.map((item) =>
      fetchOne(deps, caller, snapshot, item, action).then(
        (fetched): Settled => ({ ok: true, fetched }),
        // fetchOne rejects with an AppError (it converts whatever it caught), or asks for consent.
        (error: AppError | ConsentPending): Settled =>
          error instanceof ConsentPending ? { ok: false, pending: error } : { ok: false, error },
      ),
    ),
  );
  const auditDown = settled.find(
    (s): s is Extract<Settled, { error: AppError }> => !s.ok && 'error' in s && s.error.code === 'AUDIT_UNAVAILABLE',
  );
  if (auditDown) throw auditDown.error;
  return settled;
}

/**
 * A subject id that fails its own rules fails the whole request (422), before any provider is
 * asked; a valid id of the wrong kind for one type fails only that item.
 */
export function assertValidSubject(subject: { kind: string; id: string }): Subject {
  const parsed = parseSubject(subject);
  if (!parsed.ok) throw problem('INVALID_SUBJECT_ID', parsed.reason);
  return parsed.subject;
}

export async function runBatch(deps: LookupDeps, caller: Caller, snapshot: RegistrySnapshot, body: BatchRequest) {
  assertValidSubject(body.subject);
  const items: FetchItem[] = body.items.map((i) => ({
    type: i.type,
    subject: body.subject,
    purpose: body.purpose,
    caseId: body.caseId,
    officer: body.officer,
    fields: i.fields,
    consentId: i.consentId,
  }));
  const settled = await fetchAll(deps, caller, snapshot, items, 'batch.item');
  const { requestId } = caller;
  const results = settled.map((s, k): BatchResult => {
    const type = body.items[k]!.type;
    if (s.ok) {
      const ok: BatchResult = {
        type,
        status: 'ok',
        lookupId: s.fetched.lookupId,
        record: s.fetched.record,
        proof: s.fetched.proof,
        disputed: s.fetched.disputed,
      };
      return s.fetched.consentId ? { ...ok, consentId: s.fetched.consentId } : ok;
    }
    if ('pending' in s) return { type, status: 'pending', consentId: s.pending.consentId, expiresAt: s.pending.expiresAt };
    return { type, status: 'error', error: problemBody(s.error, requestId) };
  });
  return { caseId: body.caseId, results };
}
