import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuditAction, AuditOutcome } from '../audit/event.js';
import type { AppError} from '../errors.js';
import { problem } from '../errors.js';
import { toAppError } from '../plugins/errors.js';
import { decideAccess } from '../policy/access.js';
import { minimiseRecord } from '../policy/minimise.js';
import type { RegistrySnapshot } from '../registry/snapshot.js';
import { maskSubjectId, parseSubject } from '../subjects/index.js';
import { digestOf, signProof } from './proof.js';

/** One thing to fetch for a case: the same for a lookup, a batch item and a case material. */
export interface FetchItem {
  type: string;
  subject: { kind: string; id: string };
  purpose: string;
  caseId: string;
  officer?: string | undefined;
  fields?: string[] | undefined;
}

export interface Fetched {
  lookupId: string;
  type: string;
  provider: string;
  subject: { kind: string; id: string };
  record: Record<string, unknown>;
  fetchedAt: string;
  proof: string;
}

function outcomeOf(err: AppError): AuditOutcome {
  if (err.code === 'RECORD_NOT_FOUND') return 'not_found';
  return err.status >= 500 ? 'error' : 'denied';
}

/**
 * policy → provider → schema check → minimisation → audit (committed) → proof. Every outcome
 * writes one event under `action`; data is returned only once its event is durable.
 */
export async function fetchOne(
  app: FastifyInstance,
  request: FastifyRequest,
  snapshot: RegistrySnapshot,
  item: FetchItem,
  action: AuditAction,
): Promise<Fetched> {
  const lookupId = randomUUID();
  const base = { id: lookupId, action, type: item.type, purpose: item.purpose, caseId: item.caseId, officer: item.officer ?? null, subject: item.subject };
  let provider: string | null = null;
  try {
    const principal = request.principal!;
    const type = snapshot.types.get(item.type);
    if (!type) throw problem('UNKNOWN_TYPE', `type ${item.type} is not in the catalogue`);
    provider = type.provider;
    const parsed = parseSubject(item.subject, type.subjectKind);
    if (!parsed.ok) throw problem('INVALID_SUBJECT_ID', parsed.reason);

    const decision = decideAccess({
      type,
      grants: snapshot.grantsFor(principal.dept, type.type),
      purpose: item.purpose,
      isProcedure: (code) => snapshot.procedures.has(code),
      requestedFields: item.fields,
      mode: 'data',
      now: new Date(),
    });
    if (!decision.allowed) throw problem(decision.code, decision.detail);

    const { adapter, timeoutMs } = app.adapters.resolve(type.adapter);
    const answer = await adapter.call(
      { type: type.type, subject: parsed.subject, fields: decision.fields, purpose: item.purpose, caseId: item.caseId, requestId: String(request.id) },
      { provider: type.provider, timeoutMs },
    );
    if (!answer.found) throw problem('RECORD_NOT_FOUND', `${type.provider} holds no ${type.type} for this subject`);
    const fetchedAt = new Date().toISOString();
    const validate = snapshot.validatorFor(type.type);
    if (!validate || !validate(answer.record)) {
      throw problem('PROVIDER_BAD_RESPONSE', `${type.provider} answered outside the schema of ${type.type}`, { cause: validate?.errors });
    }
    const missing = missingFields(type.kind, answer.record, decision.fields);
    if (missing.length > 0) {
      throw problem('PROVIDER_BAD_RESPONSE', `${type.provider} left out ${missing.join(', ')} of ${type.type}`);
    }
    const record = minimiseRecord(type.kind, answer.record, decision.fields);
    const digest = digestOf(record);
    const masked = { kind: parsed.subject.kind, id: maskSubjectId(parsed.subject) };

    await app.audit.record(request, { ...base, provider: type.provider, outcome: 'ok', fields: decision.fields, recordDigest: digest });
    const proof = await signProof(app.keyring.current, app.config.publicUrl, {
      lookupId,
      type: type.type,
      provider: type.provider,
      subject: masked,
      purpose: item.purpose,
      caseId: item.caseId,
      fetchedAt,
      digest,
    });
    return { lookupId, type: type.type, provider: type.provider, subject: masked, record, fetchedAt, proof };
  } catch (err) {
    const appError = toAppError(err as Error);
    // An audit failure is already the answer; anything else is recorded as this item's outcome.
    if (appError.code !== 'AUDIT_UNAVAILABLE') {
      if (appError.status >= 500) request.log.warn({ err: appError.cause ?? appError, code: appError.code, type: item.type }, appError.message);
      await app.audit.record(request, { ...base, provider, outcome: outcomeOf(appError), errorCode: appError.code });
    }
    throw appError;
  }
}

/** Fields the gateway asked for that the provider's record lacks (in any row, for a record type). */
function missingFields(kind: 'certificate' | 'record', record: Record<string, unknown>, fields: readonly string[]): string[] {
  const objects = kind === 'record' ? ((record.rows as Record<string, unknown>[] | undefined) ?? []) : [record];
  return fields.filter((f) => objects.some((o) => !Object.hasOwn(o, f)));
}
