import { randomUUID } from 'node:crypto';
import type { AuditFacts } from '../audit/build.js';
import type { AuditAction, AuditOutcome } from '../audit/event.js';
import { ConsentPending, consentGate, useConsent } from '../consents/gate.js';
import type { AppError } from '../errors.js';
import { problem, toAppError } from '../errors.js';
import { decideAccess } from '../policy/access.js';
import { discloseAtFor } from '../policy/covert.js';
import { minimiseRecord } from '../policy/minimise.js';
import { recordRows } from '../policy/rows.js';
import type { ProviderAnswer } from '../adapters/types.js';
import type { TypeDef } from '../registry/model.js';
import type { RegistrySnapshot } from '../registry/snapshot.js';
import { parseSubject, type Subject } from '../subjects/index.js';
import type { Caller, LookupDeps } from './deps.js';
import { digestOf, signProof, type ProofClaims } from './proof.js';

/** One thing to fetch for a case: the same for a lookup, a batch item and a case material. */
export interface FetchItem {
  type: string;
  subject: { kind: string; id: string };
  purpose: string;
  caseId: string;
  officer?: string | undefined;
  fields?: string[] | undefined;
  /** An approved consent to release a consent-required type under (issue 15). */
  consentId?: string | undefined;
  /** Non-personal detail for the event of a failed item (a case material's to-submit `reason`). */
  failureDetail?: ((error: AppError) => Record<string, unknown>) | undefined;
}

export interface Fetched {
  lookupId: string;
  type: string;
  provider: string;
  subject: { kind: string; id: string };
  record: Record<string, unknown>;
  fetchedAt: string;
  proof: string;
  /** The consent the record was released under, for a consent-required type. */
  consentId?: string;
  /** An objection to this subject's record of this type is open (the proof says so too). */
  disputed: boolean;
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
  /** Set once a covert grant serves the item: every event of it is hidden from the subject until then. */
  discloseAt?: string | null;
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
  /** The consent this release uses up (already marked used). */
  consentId?: string;
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
  deps: Pick<LookupDeps, 'audit'>,
  caller: Caller,
  item: FetchItem,
  action: AuditAction,
  run: (ctx: ItemContext) => Promise<T>,
): Promise<T> {
  const ctx: ItemContext = { lookupId: randomUUID(), action, item, provider: null, detail: null, discloseAt: null };
  try {
    return await run(ctx);
  } catch (err) {
    // A request for consent is not a failure: its event is written, the caller answers it.
    if (err instanceof ConsentPending) throw err;
    const appError = toAppError(err);
    // An audit failure is already the answer; anything else is recorded as this item's outcome.
    if (appError.code !== 'AUDIT_UNAVAILABLE') {
      if (appError.status >= 500)
        caller.log.warn({ err: appError.cause ?? appError, code: appError.code, type: item.type }, appError.message);
      const detail = item.failureDetail ? { ...ctx.detail, ...item.failureDetail(appError) } : ctx.detail;
      await deps.audit.record(caller, itemFacts(ctx, { outcome: outcomeOf(appError), errorCode: appError.code, detail }));
    }
    throw appError;
  }
}

/** What an item's event adds to the facts every event of it shares. */
export interface ItemOutcome {
  outcome: AuditOutcome;
  fields?: string[];
  recordDigest?: string;
  errorCode?: string;
  /** Replaces the item's detail (a failure's, with its own facts added). */
  detail?: Record<string, unknown> | null;
}

/**
 * The audit facts of one event of an item: one object literal of one shape for every item and
 * outcome. Spreading a shared base into a new literal (as before) gave objects of varying shapes,
 * whose members V8 defined one at a time on a slow path and the event builder then read through
 * missed inline caches (issue 12).
 */
export function itemFacts(ctx: ItemContext, result: ItemOutcome): AuditFacts {
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
    detail: result.detail === undefined ? ctx.detail : result.detail,
    discloseAt: ctx.discloseAt ?? undefined,
    outcome: result.outcome,
    fields: result.fields,
    recordDigest: result.recordDigest,
    errorCode: result.errorCode,
  };
}

/** Per registry snapshot, whether a code is one of its procedures (made once, not per lookup). */
const procedureTests = new WeakMap<RegistrySnapshot, (code: string) => boolean>();

function procedureTest(snapshot: RegistrySnapshot): (code: string) => boolean {
  let test = procedureTests.get(snapshot);
  if (test === undefined) {
    test = (code) => snapshot.procedures.has(code);
    procedureTests.set(snapshot, test);
  }
  return test;
}

/**
 * The common part of a lookup and a verification: type → subject → policy → provider → schema
 * check. `mode` is the policy mode (`verify` also accepts verifyOnly grants); `beforeCall`
 * runs once the policy allowed the request, before the provider is asked anything.
 */
export async function resolveAndCall(
  deps: LookupDeps,
  caller: Caller,
  snapshot: RegistrySnapshot,
  ctx: ItemContext,
  mode: 'data' | 'verify',
  beforeCall?: (type: TypeDef) => void | Promise<void>,
): Promise<Resolved> {
  const { item } = ctx;
  const { principal } = caller;
  const type = snapshot.types.get(item.type);
  if (!type) throw problem('UNKNOWN_TYPE', `type ${item.type} is not in the catalogue`);
  ctx.provider = type.provider;
  const parsed = parseSubject(item.subject, type.subjectKind);
  if (!parsed.ok) throw problem('INVALID_SUBJECT_ID', parsed.reason);
  // Parsed once: the event, the dispute check and the masked id in the answer use this description.
  const described = deps.audit.describeParsed(item.subject, parsed.subject);

  const grants = snapshot.grantsFor(principal.department, type.type);
  const decision = decideAccess({
    type,
    grants,
    purpose: item.purpose,
    isProcedure: procedureTest(snapshot),
    requestedFields: item.fields,
    mode,
    now: new Date(),
  });
  if (!decision.allowed) throw problem(decision.code, decision.detail);
  ctx.discloseAt = discloseAtFor(grants, decision.grantIds, deps.clock());
  // Awaited only when it is asynchronous, and the consent gate asked only when consent is in play:
  // an await of a plain value still costs a promise and a turn of the microtask queue (issue 12).
  const before = beforeCall?.(type);
  if (before !== undefined) await before;
  const consentInPlay = type.consent === 'required' || item.consentId !== undefined;
  const consent = !consentInPlay
    ? null
    : await consentGate(deps, caller, {
        eventId: ctx.lookupId,
        action: mode === 'verify' ? 'verification' : ctx.action === 'batch.item' || ctx.action === 'case.material' ? ctx.action : 'lookup',
        type,
        subject: parsed.subject,
        purpose: item.purpose,
        caseId: item.caseId,
        officer: item.officer ?? null,
        fields: decision.fields,
        consentId: item.consentId,
      });

  const { adapter, timeoutMs } = deps.adapters.resolve(type.adapter);
  // The schema check runs inside the adapter when it can (so its breaker counts an answer outside
  // the schema as a failure, issue 9), and here otherwise.
  const check = new AnswerCheck(snapshot, type, decision.fields);
  const answer = await adapter.call(
    {
      type: type.type,
      subject: parsed.subject,
      fields: decision.fields,
      purpose: item.purpose,
      caseId: item.caseId,
      requestId: caller.requestId,
    },
    { provider: type.provider, timeoutMs, check: check.run },
  );
  if (!check.ran) check.run(answer);
  if (!answer.found) throw problem('RECORD_NOT_FOUND', `${type.provider} holds no ${type.type} for this subject`);
  const answeredAt = new Date().toISOString();
  const maskedSubject = { kind: parsed.subject.kind, id: described.masked };
  const resolved: Resolved = { type, subject: parsed.subject, maskedSubject, fields: decision.fields, record: answer.record, answeredAt };
  if (consent) {
    await useConsent(deps, consent);
    resolved.consentId = consent.consentId;
    ctx.detail = { ...ctx.detail, consentId: consent.consentId };
  }
  return resolved;
}

/**
 * policy → provider → schema check → minimisation → audit (committed) → proof. Every outcome
 * writes one event under `action`; data is returned only once its event is durable.
 */
export async function fetchOne(
  deps: LookupDeps,
  caller: Caller,
  snapshot: RegistrySnapshot,
  item: FetchItem,
  action: AuditAction,
): Promise<Fetched> {
  return auditedItem(deps, caller, item, action, async (ctx) => {
    // Whether an objection is open is asked while the provider answers (it costs a query only for a
    // type with open objections); a provider failure leaves its answer unread.
    let disputedCheck: boolean | Promise<boolean> = false;
    const resolved = await resolveAndCall(deps, caller, snapshot, ctx, 'data', (t) => {
      disputedCheck = deps.disputes.isDisputed(t.type, () => deps.audit.describeSubject(item.subject).hmac);
      if (typeof disputedCheck !== 'boolean') disputedCheck.catch(() => undefined);
    });
    const { type, maskedSubject: subject, answeredAt: fetchedAt } = resolved;
    const record = minimiseRecord(type.kind, resolved.record, resolved.fields);
    const digest = digestOf(record);
    const disputed = typeof disputedCheck === 'boolean' ? disputedCheck : await disputedCheck;

    // Signed before the event is committed, not after: the same CPU, but spent while the batch
    // commits instead of after it, when every lookup of the batch waited for the ones before it to
    // be signed (issue 12). Nothing leaves before the commit: if it fails, the proof is dropped.
    // One literal of one shape rather than a conditional spread, which defined each member on a
    // slow path; JSON.stringify leaves out an undefined consentId, so the proof is byte-identical.
    const claims: ProofClaims = {
      lookupId: ctx.lookupId,
      type: type.type,
      provider: type.provider,
      subject,
      purpose: item.purpose,
      caseId: item.caseId,
      fetchedAt,
      digest,
      consentId: resolved.consentId,
      disputed,
    };
    const proof = signProof(deps.signer.keyring.current, deps.signer.issuer, claims);
    await deps.audit.record(caller, itemFacts(ctx, { outcome: 'ok', fields: resolved.fields, recordDigest: digest }));
    const fetched: Fetched = {
      lookupId: ctx.lookupId,
      type: type.type,
      provider: type.provider,
      subject,
      record,
      fetchedAt,
      proof,
      disputed,
    };
    if (resolved.consentId) fetched.consentId = resolved.consentId;
    return fetched;
  });
}

/**
 * The check of one provider answer against the type's schema and the fields asked for; `ran`
 * says whether the adapter ran it. (A class, not a closure per call: cheaper to make, issue 12.)
 */
class AnswerCheck {
  ran = false;
  readonly run: (answer: ProviderAnswer) => void;

  constructor(
    private readonly snapshot: RegistrySnapshot,
    private readonly type: TypeDef,
    private readonly fields: readonly string[],
  ) {
    this.run = this.check.bind(this);
  }

  private check(answer: ProviderAnswer): void {
    this.ran = true;
    if (!answer.found) return;
    const { type } = this;
    const validate = this.snapshot.validatorFor(type.type);
    if (!validate || !validate(answer.record)) {
      throw problem('PROVIDER_BAD_RESPONSE', `${type.provider} answered outside the schema of ${type.type}`, { cause: validate?.errors });
    }
    const missing = missingFields(type.kind, answer.record, this.fields);
    if (missing.length > 0) {
      throw problem('PROVIDER_BAD_RESPONSE', `${type.provider} left out ${missing.join(', ')} of ${type.type}`);
    }
  }
}

/** Fields the gateway asked for that the provider's record lacks (in any row, for a record type). */
function missingFields(kind: TypeDef['kind'], record: Record<string, unknown>, fields: readonly string[]): string[] {
  // Rows are objects here: the type's schema, checked first, says so.
  const objects = recordRows(kind, record) as Record<string, unknown>[];
  return fields.filter((f) => objects.some((o) => !Object.hasOwn(o, f)));
}
