import type { ErrorCode } from '../errors.js';
import type { Grant, TypeDef } from '../registry/model.js';

/**
 * May this consumer have this type, for this purpose, with these fields? Pure: the same inputs
 * always give the same answer, so the decision table is tested without a server.
 */
export interface AccessRequest {
  type: TypeDef;
  /** The consumer's grants for this type (expired ones included). */
  grants: readonly Grant[];
  purpose: string;
  /** Known procedure codes: an open (unconditional) type still needs a real purpose. */
  isProcedure: (code: string) => boolean;
  /** Fields asked for; undefined means "everything I may have". */
  requestedFields?: readonly string[];
  /** `data` releases fields; `verify` answers a claim about one field. */
  mode: 'data' | 'verify';
  now: Date;
}

export type AccessDecision =
  | { allowed: true; fields: string[]; basis: 'grant' | 'open'; grantIds: string[] }
  | { allowed: false; code: ErrorCode; detail: string };

const deny = (code: ErrorCode, detail: string): AccessDecision => ({ allowed: false, code, detail });

export function decideAccess(req: AccessRequest): AccessDecision {
  const { type } = req;
  if (type.sharing === 'none') return deny('NOT_GRANTED', `type ${type.type} is not shared (不予共享)`);

  const live = req.grants.filter((g) => g.expiresAt === null || new Date(g.expiresAt) > req.now);
  const typeFields = new Set(type.fields.map((f) => f.name));
  let allowed: string[];
  let basis: 'grant' | 'open';
  let grantIds: string[] = [];

  if (live.length > 0) {
    const forPurpose = live.filter((g) => g.purposes.includes(req.purpose));
    if (forPurpose.length === 0) {
      return deny('PURPOSE_NOT_ALLOWED', `purpose ${req.purpose} is not among the purposes granted for ${type.type}`);
    }
    const usable = req.mode === 'data' ? forPurpose.filter((g) => !g.verifyOnly) : forPurpose;
    if (usable.length === 0) {
      return deny('NOT_GRANTED', `the grant for ${type.type} allows verification only (POST /v1/verifications)`);
    }
    allowed = [...new Set(usable.flatMap((g) => g.fields))].filter((f) => typeFields.has(f));
    basis = 'grant';
    grantIds = usable.map((g) => g.grantId);
  } else if (type.sharing === 'unconditional') {
    if (!req.isProcedure(req.purpose)) {
      return deny('PURPOSE_NOT_ALLOWED', `purpose ${req.purpose} is not a registered procedure`);
    }
    allowed = type.fields.filter((f) => !f.sensitive).map((f) => f.name);
    basis = 'open';
  } else {
    const expired = req.grants.length > 0;
    return deny('NOT_GRANTED', expired ? `the grant for ${type.type} has expired` : `no grant for type ${type.type} (有条件共享)`);
  }

  if (req.requestedFields === undefined) return { allowed: true, fields: allowed, basis, grantIds };
  const allowedSet = new Set(allowed);
  const outside = req.requestedFields.filter((f) => !allowedSet.has(f));
  if (outside.length > 0) {
    const unknown = outside.filter((f) => !typeFields.has(f));
    return deny(
      'FIELD_NOT_ALLOWED',
      unknown.length > 0
        ? `${type.type} has no field ${unknown.join(', ')}`
        : `field ${outside.join(', ')} of ${type.type} is outside what this consumer may receive`,
    );
  }
  return { allowed: true, fields: [...new Set(req.requestedFields)], basis, grantIds };
}
