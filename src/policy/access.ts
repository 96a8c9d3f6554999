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
  requestedFields?: readonly string[] | undefined;
  /** `data` releases fields; `verify` answers a claim about one field (verifyOnly grants count). */
  mode: 'data' | 'verify';
  now: Date;
}

export type AccessDecision =
  { allowed: true; fields: string[]; basis: 'grant' | 'open'; grantIds: string[] } | { allowed: false; code: ErrorCode; detail: string };

const deny = (code: ErrorCode, detail: string): AccessDecision => ({ allowed: false, code, detail });

/** A grant is in force until its `expiresAt` (exclusive); one without an expiry never lapses. */
export function isGrantLive(grant: Pick<Grant, 'expiresAt'>, now: Date): boolean {
  return grant.expiresAt === null || new Date(grant.expiresAt) > now;
}

/** Grants that are in force now and cover the purpose, split by whether this mode may use them. */
function grantsInForce(req: AccessRequest) {
  const live = req.grants.filter((g) => isGrantLive(g, req.now));
  const forPurpose = live.filter((g) => g.purposes.includes(req.purpose));
  const usable = req.mode === 'data' ? forPurpose.filter((g) => !g.verifyOnly) : forPurpose;
  return { live, forPurpose, usable };
}

/**
 * The decision table (ARCHITECTURE.md "Concepts", gateway.yaml `createLookup`):
 * - `none`: never served.
 * - `conditional`: only through an unexpired grant covering the purpose; a verifyOnly grant
 *   serves `verify` only. Allowed fields are the grant's.
 * - `unconditional`: the non-sensitive fields are open to every consumer for a registered
 *   procedure; a grant adds what it lists (its sensitive fields) for its own purposes. An
 *   unrelated or expired grant never takes the open fields away.
 * Requested fields are never trimmed: one outside what is allowed denies the whole request.
 */
export function decideAccess(req: AccessRequest): AccessDecision {
  const { type } = req;
  if (type.sharing === 'none') return deny('NOT_GRANTED', `type ${type.type} is not shared (不予共享)`);

  const { live, forPurpose, usable } = grantsInForce(req);
  const granted = new Set(usable.flatMap((g) => g.fields));
  let open = false;

  if (type.sharing === 'conditional') {
    if (live.length === 0) {
      return deny(
        'NOT_GRANTED',
        req.grants.length > 0 ? `the grant for ${type.type} has expired` : `no grant for type ${type.type} (有条件共享)`,
      );
    }
    if (forPurpose.length === 0) {
      return deny('PURPOSE_NOT_ALLOWED', `purpose ${req.purpose} is not among the purposes granted for ${type.type}`);
    }
    if (usable.length === 0) {
      return deny('NOT_GRANTED', `the grant for ${type.type} allows verification only (POST /v1/verifications)`);
    }
  } else {
    // A purpose a grant names is vouched for by the operator; any other must be a real procedure.
    open = usable.length > 0 || req.isProcedure(req.purpose);
    if (!open) return deny('PURPOSE_NOT_ALLOWED', `purpose ${req.purpose} is not a registered procedure`);
  }

  // In the type's own field order, so records and audit events list fields the same way every time.
  const allowed = type.fields.filter((f) => granted.has(f.name) || (open && !f.sensitive)).map((f) => f.name);
  if (allowed.length === 0) return deny('NOT_GRANTED', `no field of ${type.type} may be released to this consumer`);
  const basis = usable.length > 0 ? 'grant' : 'open';
  const grantIds = usable.map((g) => g.grantId);

  if (req.requestedFields === undefined) return { allowed: true, fields: allowed, basis, grantIds };
  const allowedSet = new Set(allowed);
  const outside = req.requestedFields.filter((f) => !allowedSet.has(f));
  if (outside.length > 0) {
    const typeFields = new Set(type.fields.map((f) => f.name));
    const unknown = outside.filter((f) => !typeFields.has(f));
    return deny(
      'FIELD_NOT_ALLOWED',
      unknown.length > 0
        ? `${type.type} has no field ${unknown.join(', ')}`
        : `field ${outside.join(', ')} of ${type.type} is outside what this consumer may receive for purpose ${req.purpose}`,
    );
  }
  return { allowed: true, fields: [...new Set(req.requestedFields)], basis, grantIds };
}
