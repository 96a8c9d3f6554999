import type { FastifyInstance, FastifyRequest } from 'fastify';
import { problem } from '../errors.js';
import { checkClaimAgainstSchema, checkClaimShape, evaluateClaim, fieldSchemaOf, type Claim } from '../policy/claims.js';
import type { RegistrySnapshot } from '../registry/snapshot.js';
import { auditedItem, eventBase, resolveAndCall } from './flow.js';
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
  app: FastifyInstance,
  request: FastifyRequest,
  snapshot: RegistrySnapshot,
  body: VerificationRequest,
): Promise<VerificationAnswer> {
  const { claim } = body;
  const item = { type: body.type, subject: body.subject, purpose: body.purpose, caseId: body.caseId, officer: body.officer, fields: [claim.field] };
  return auditedItem(app, request, item, 'verification', async (ctx) => {
    ctx.detail = { claimField: claim.field, op: claim.op };
    const shape = checkClaimShape(claim);
    if (!shape.ok) throw problem('VALIDATION_FAILED', shape.reason);

    const resolved = await resolveAndCall(app, request, snapshot, ctx, 'verify', (type) => {
      const fits = checkClaimAgainstSchema(claim, fieldSchemaOf(type, claim.field));
      if (!fits.ok) throw problem('VALIDATION_FAILED', fits.reason);
    });
    const evaluated = evaluateClaim(resolved.type.kind, resolved.record, claim);
    if (!evaluated.ok) throw problem('VALIDATION_FAILED', evaluated.reason);
    const { result } = evaluated;
    const digest = digestOf({ claim, result });

    await app.audit.record(request, { ...eventBase(ctx), outcome: 'ok', fields: [] });
    const { type, maskedSubject: subject, answeredAt: verifiedAt } = resolved;
    const proof = signProof(app.keyring.current, app.config.publicUrl, {
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
    return { lookupId: ctx.lookupId, type: type.type, provider: type.provider, subject, claim, result, verifiedAt, proof };
  });
}
