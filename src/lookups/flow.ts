import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuditAction, AuditOutcome } from '../audit/event.js';
import type { AppError } from '../errors.js';
import { problem } from '../errors.js';
import { toAppError } from '../plugins/errors.js';
import { decideAccess } from '../policy/access.js';
import { minimiseRecord } from '../policy/minimise.js';
import type { TypeDef } from '../registry/model.js';
import type { RegistrySnapshot } from '../registry/snapshot.js';
import { maskSubjectId, parseSubject, type Subject } from '../subjects/index.js';
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

/** What one audited item knows so far; its failure event is written from it. */
export interface ItemContext {
  lookupId: string;
  action: AuditAction;
  item: FetchItem;
  /** Known once the type is found, so that a failure event names the provider. */
  provider: string | null;
  /** Non-personal detail for the event (success and failure alike). */
  detail: Record<string, unknown> | null;
}

/** A provider's answer after policy, the provider call and the schema check, before anything is released. */
export interface Resolved {
  type: TypeDef;
  subject: Subject;
  maskedSubject: { kind: string; id: string };
  /** Fields the policy allowed and the provider was asked for. */
  fields: string[];
  /** The provider's record, valid against the type's schema and holding every field asked for. */
  record: Record<string, unknown>;
  answeredAt: string;
}

function outcomeOf(err: AppError): AuditOutcome {
  if (err.code === 'RECORD_NOT_FOUND') return 'not_found';
  return err.status >= 500 ? 'error' : 'denied';
}

/**
 * Runs one item so that every outcome writes exactly one audit event under `action`: `run`
 * writes the success event itself (data is released only after it commits); any failure is
 * recorded here and rethrown as an AppError.
 */
export async function auditedItem<T>(
  app: FastifyInstance,
  request: FastifyRequest,
  item: FetchItem,
  action: AuditAction,
  run: (ctx: ItemContext) => Promise<T>,
): Promise<T> {
  const ctx: ItemContext = { lookupId: randomUUID(), action, item, provider: null, detail: null };
  try {
    return await run(ctx);
  } catch (err) {
    const appError = toAppError(err as Error);
    // An audit failure is already the answer; anything else is recorded as this item's outcome.
    if (appError.code !== 'AUDIT_UNAVAILABLE') {
      if (appError.status >= 500) request.log.warn({ err: appError.cause ?? appError, code: appError.code, type: item.type }, appError.message);
      await app.audit.record(request, { ...eventBase(ctx), outcome: outcomeOf(appError), errorCode: appError.code });
    }
    throw appError;
  }
}

/** The audit facts every event of an item shares. */
export function eventBase(ctx: ItemContext) {
  const { item } = ctx;
  return {
    id: ctx.lookupId,
    action: ctx.action,
    type: item.type,
    provider: ctx.provider,
    purpose: item.purpose,
    caseId: item.caseId,
    officer: item.officer ?? null,
    subject: item.subject,
    detail: ctx.detail,
  };
}

/**
 * The common part of a lookup and a verification: type → subject → policy → provider → schema
 * check. `mode` is the policy mode (`verify` also accepts verifyOnly grants); `beforeCall`
 * runs once the policy allowed the request, before the provider is asked anything.
 */
export async function resolveAndCall(
  app: FastifyInstance,
  request: FastifyRequest,
  snapshot: RegistrySnapshot,
  ctx: ItemContext,
  mode: 'data' | 'verify',
  beforeCall?: (type: TypeDef) => void,
): Promise<Resolved> {
  const { item } = ctx;
  const principal = request.principal!;
  const type = snapshot.types.get(item.type);
  if (!type) throw problem('UNKNOWN_TYPE', `type ${item.type} is not in the catalogue`);
  ctx.provider = type.provider;
  const parsed = parseSubject(item.subject, type.subjectKind);
  if (!parsed.ok) throw problem('INVALID_SUBJECT_ID', parsed.reason);

  const decision = decideAccess({
    type,
    grants: snapshot.grantsFor(principal.dept, type.type),
    purpose: item.purpose,
    isProcedure: (code) => snapshot.procedures.has(code),
    requestedFields: item.fields,
    mode,
    now: new Date(),
  });
  if (!decision.allowed) throw problem(decision.code, decision.detail);
  beforeCall?.(type);

  const { adapter, timeoutMs } = app.adapters.resolve(type.adapter);
  const answer = await adapter.call(
    { type: type.type, subject: parsed.subject, fields: decision.fields, purpose: item.purpose, caseId: item.caseId, requestId: String(request.id) },
    { provider: type.provider, timeoutMs },
  );
  if (!answer.found) throw problem('RECORD_NOT_FOUND', `${type.provider} holds no ${type.type} for this subject`);
  const answeredAt = new Date().toISOString();
  const validate = snapshot.validatorFor(type.type);
  if (!validate || !validate(answer.record)) {
    throw problem('PROVIDER_BAD_RESPONSE', `${type.provider} answered outside the schema of ${type.type}`, { cause: validate?.errors });
  }
  const missing = missingFields(type.kind, answer.record, decision.fields);
  if (missing.length > 0) {
    throw problem('PROVIDER_BAD_RESPONSE', `${type.provider} left out ${missing.join(', ')} of ${type.type}`);
  }
  const maskedSubject = { kind: parsed.subject.kind, id: maskSubjectId(parsed.subject) };
  return { type, subject: parsed.subject, maskedSubject, fields: decision.fields, record: answer.record, answeredAt };
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
  return auditedItem(app, request, item, action, async (ctx) => {
    const resolved = await resolveAndCall(app, request, snapshot, ctx, 'data');
    const { type, maskedSubject: subject, answeredAt: fetchedAt } = resolved;
    const record = minimiseRecord(type.kind, resolved.record, resolved.fields);
    const digest = digestOf(record);

    await app.audit.record(request, { ...eventBase(ctx), outcome: 'ok', fields: resolved.fields, recordDigest: digest });
    const proof = signProof(app.keyring.current, app.config.publicUrl, {
      lookupId: ctx.lookupId,
      type: type.type,
      provider: type.provider,
      subject,
      purpose: item.purpose,
      caseId: item.caseId,
      fetchedAt,
      digest,
    });
    return { lookupId: ctx.lookupId, type: type.type, provider: type.provider, subject, record, fetchedAt, proof };
  });
}

/** Fields the gateway asked for that the provider's record lacks (in any row, for a record type). */
function missingFields(kind: 'certificate' | 'record', record: Record<string, unknown>, fields: readonly string[]): string[] {
  const objects = kind === 'record' ? ((record.rows as Record<string, unknown>[] | undefined) ?? []) : [record];
  return fields.filter((f) => objects.some((o) => !Object.hasOwn(o, f)));
}
