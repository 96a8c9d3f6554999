import { problem } from '../errors.js';
import { countAnsweredVerifications } from '../audit/budget.js';
import {
  checkClaimAgainstSchema,
  checkClaimOrderable,
  checkClaimShape,
  evaluateClaim,
  fieldSchemaOf,
  type Claim,
} from '../policy/claims.js';
import type { RegistrySnapshot } from '../registry/snapshot.js';
import type { Caller, LookupDeps } from './deps.js';
import { auditedItem, itemFacts, resolveAndCall } from './flow.js';
import { digestOf, signProof } from './proof.js';

export interface VerificationRequest {
  type: string;
  subject: { kind: string; id: string };
  purpose: string;
  caseId: string;
  officer?: string;
  claim: Claim;
}

export interface VerificationAnswer {
  lookupId: string;
  type: string;
  provider: string;
  subject: { kind: string; id: string };
  claim: Claim;
  result: boolean;
  verifiedAt: string;
  proof: string;
}

/**
 * Answers a yes/no claim about one field without releasing it. The provider is asked for that
 * field only; the event (`verification`) records which field and operator were checked but
 * never the compared value nor the result, which could be personal data themselves.
 */
export async function verifyClaim(
  deps: LookupDeps,
  caller: Caller,
  snapshot: RegistrySnapshot,
  body: VerificationRequest,
): Promise<VerificationAnswer> {
  const { claim } = body;
  const item = {
    type: body.type,
    subject: body.subject,
    purpose: body.purpose,
    caseId: body.caseId,
    officer: body.officer,
    fields: [claim.field],
  };
  let releaseBudget = () => {};
  try {
    return await auditedItem(deps, caller, item, 'verification', async (ctx) => {
      ctx.detail = { claimField: claim.field, op: claim.op };
      const shape = checkClaimShape(claim);
      if (!shape.ok) throw problem('VALIDATION_FAILED', shape.reason);

      const resolved = await resolveAndCall(deps, caller, snapshot, ctx, 'verify', async (type) => {
        const fieldSchema = fieldSchemaOf(type, claim.field);
        const fits = checkClaimAgainstSchema(claim, fieldSchema);
        if (!fits.ok) throw problem('VALIDATION_FAILED', fits.reason);
        const orderable = checkClaimOrderable(claim, fieldSchema);
        if (!orderable.ok) throw problem('UNSUPPORTED_CLAIM', orderable.reason);
        releaseBudget = await spendVerifyBudget(deps, caller.principal.department, body.subject, type.type);
      });
      const evaluated = evaluateClaim(resolved.type.kind, resolved.record, claim);
      if (!evaluated.ok) throw problem('VALIDATION_FAILED', evaluated.reason);
      const { result } = evaluated;
      const digest = digestOf({ claim, result });

      const { type, maskedSubject: subject, answeredAt: verifiedAt } = resolved;
      // Signed while the event commits, as a lookup's proof (flow.ts); dropped if the commit fails.
      const proof = signProof(deps.signer.keyring.current, deps.signer.issuer, {
        lookupId: ctx.lookupId,
        type: type.type,
        provider: type.provider,
        subject,
        purpose: body.purpose,
        caseId: body.caseId,
        fetchedAt: verifiedAt,
        digest,
        claim,
        result,
      });
      await deps.audit.record(caller, itemFacts(ctx, { outcome: 'ok', fields: [] }));
      return { lookupId: ctx.lookupId, type: type.type, provider: type.provider, subject, claim, result, verifiedAt, proof };
    });
  } finally {
    // The answered event is committed (or there is none): the trail's count takes over.
    releaseBudget();
  }
}

/**
 * VERIFY_BUDGET_PER_DAY: at most that many answered verifications per consumer department, subject
 * and type per UTC day, so yes/no answers cannot be chained into the value itself. The count comes
 * from the audit trail (src/audit/budget.ts); concurrent calls on one replica are counted while in
 * flight too. Beyond it: 429 RATE_LIMITED with Retry-After (seconds to the next UTC midnight).
 */
async function spendVerifyBudget(
  deps: Pick<LookupDeps, 'audit' | 'verifyBudget'>,
  consumer: string,
  subject: { kind: string; id: string },
  type: string,
): Promise<() => void> {
  const now = new Date();
  const since = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  const subjectHmac = deps.audit.describeSubject(subject).hmac;
  const key = `${consumer} ${subjectHmac} ${type} ${since.getTime()}`;
  const { inFlight, perDay } = deps.verifyBudget;
  inFlight.set(key, (inFlight.get(key) ?? 0) + 1);
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    const left = (inFlight.get(key) ?? 1) - 1;
    if (left <= 0) inFlight.delete(key);
    else inFlight.set(key, left);
  };
  try {
    const answered = await countAnsweredVerifications(deps.verifyBudget.db, { consumer, subjectHmac, type, since });
    // This call is one of the in-flight ones; the others may still be answered.
    if (answered + (inFlight.get(key) ?? 1) > perDay) {
      const retryAfter = Math.max(1, Math.ceil((since.getTime() + 86_400_000 - now.getTime()) / 1000));
      throw problem('RATE_LIMITED', `at most ${perDay} verifications per day of this type about one subject`, {
        headers: { 'retry-after': String(retryAfter) },
      });
    }
  } catch (err) {
    release();
    throw err;
  }
  return release;
}
