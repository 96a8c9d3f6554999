import { isPlainObject } from '../json.js';
import type { TypeDef, TypeKind } from '../registry/model.js';
import { recordRows } from './rows.js';

/**
 * Yes/no claims about one field of a record (POST /v1/verifications). Pure: the gateway asks the
 * provider for the one field, answers whether the claim holds, and releases nothing else.
 */
export type ClaimOp = 'eq' | 'ne' | 'gte' | 'lte' | 'exists';
export type ClaimValue = string | number | boolean;

export interface Claim {
  field: string;
  op: ClaimOp;
  value?: ClaimValue;
}

export type ClaimCheck = { ok: true } | { ok: false; reason: string };
export type ClaimResult = { ok: true; result: boolean } | { ok: false; reason: string };

const ORDERED: ReadonlySet<ClaimOp> = new Set(['gte', 'lte']);

/** Is the claim well-formed on its own? `value` is required for every op but `exists`, which takes none. */
export function checkClaimShape(claim: Claim): ClaimCheck {
  if (claim.op === 'exists') {
    return claim.value === undefined ? { ok: true } : { ok: false, reason: 'claim.value must be omitted for op "exists"' };
  }
  if (claim.value === undefined) return { ok: false, reason: `claim.value is required for op "${claim.op}"` };
  if (ORDERED.has(claim.op) && typeof claim.value === 'boolean') {
    return { ok: false, reason: `op "${claim.op}" compares numbers or strings (such as ISO dates), not booleans` };
  }
  return { ok: true };
}

/** The JSON Schema of one field: a certificate's property, or a column of a record type's rows. */
export function fieldSchemaOf(type: Pick<TypeDef, 'kind' | 'schema'>, field: string): Record<string, unknown> | undefined {
  const props = (s: unknown): Record<string, unknown> | undefined => {
    const p = isPlainObject(s) ? s.properties : undefined;
    return isPlainObject(p) ? p : undefined;
  };
  const holder = type.kind === 'record' ? (props(type.schema)?.rows as Record<string, unknown> | undefined)?.items : type.schema;
  const schema = props(holder)?.[field];
  return isPlainObject(schema) ? schema : undefined;
}

/** JSON types a field schema admits, from `type`, `enum` or `const`; undefined when it does not say. */
function declaredTypes(schema: Record<string, unknown>): Set<string> | undefined {
  const { type } = schema;
  if (typeof type === 'string') return new Set(type === 'integer' ? ['number'] : [type]);
  if (Array.isArray(type)) return new Set(type.map((t) => (t === 'integer' ? 'number' : String(t))));
  const values = Array.isArray(schema.enum) ? schema.enum : 'const' in schema ? [schema.const] : undefined;
  return values ? new Set(values.map(jsonType)) : undefined;
}

/**
 * Can the claim's value ever compare with the field, by the type's schema? Checked before the
 * provider is called, so a mistyped claim costs no provider call and never depends on the data.
 */
export function checkClaimAgainstSchema(claim: Claim, fieldSchema: Record<string, unknown> | undefined): ClaimCheck {
  if (claim.op === 'exists' || claim.value === undefined || fieldSchema === undefined) return { ok: true };
  const types = declaredTypes(fieldSchema);
  const valueType = jsonType(claim.value);
  if (types === undefined || types.has(valueType)) return { ok: true };
  return { ok: false, reason: `field ${claim.field} holds ${[...types].join(' or ')}; it cannot be compared with a ${valueType}` };
}

/**
 * `gte`/`lte` only where an order cannot spell out a value: number fields, and strings the schema
 * declares `format: date` or `date-time`. On a text field an ordering answer is an oracle — a
 * binary search of `lte` claims rebuilds a name in a few dozen calls (issue 9) — so anything else
 * is UNSUPPORTED_CLAIM. A field the schema does not describe is not orderable either.
 */
export function checkClaimOrderable(claim: Claim, fieldSchema: Record<string, unknown> | undefined): ClaimCheck {
  if (claim.op !== 'gte' && claim.op !== 'lte') return { ok: true };
  const order = fieldSchema === undefined ? null : orderOf(fieldSchema);
  if (order === 'number' && typeof claim.value === 'number') return { ok: true };
  if (order === 'date' && typeof claim.value === 'string') return { ok: true };
  return {
    ok: false,
    reason: `op "${claim.op}" applies only to number fields and date or date-time strings${order === null ? `; ${claim.field} is neither` : `, compared with a value of their kind`}`,
  };
}

function orderOf(schema: Record<string, unknown>): 'number' | 'date' | null {
  const types = declaredTypes(schema);
  if (types === undefined) return null;
  const [only, ...others] = [...types].filter((t) => t !== 'null');
  if (only === undefined || others.length > 0) return null;
  if (only === 'number') return 'number';
  const isDate = schema.format === 'date' || schema.format === 'date-time';
  return only === 'string' && isDate && !('enum' in schema) && !('const' in schema) ? 'date' : null;
}

/**
 * Evaluates a claim against a provider's record. A certificate is one object; for a `record`
 * type the claim holds when at least one row satisfies it (e.g. "contributed in 2025-06").
 * A missing or null value satisfies only `ne`. `gte`/`lte` between a number and a string (or
 * anything else that has no order) is an error: the caller asked a question with no answer.
 */
export function evaluateClaim(kind: TypeKind, record: Record<string, unknown>, claim: Claim): ClaimResult {
  const shape = checkClaimShape(claim);
  if (!shape.ok) return shape;
  const objects = recordRows(kind, record);
  let result = false;
  for (const obj of objects) {
    const value = isPlainObject(obj) && Object.hasOwn(obj, claim.field) ? obj[claim.field] : undefined;
    const one = evaluateOne(value, claim);
    if (!one.ok) return one;
    result ||= one.result;
  }
  return { ok: true, result };
}

function evaluateOne(actual: unknown, claim: Claim): ClaimResult {
  const present = actual !== undefined && actual !== null;
  switch (claim.op) {
    case 'exists':
      return { ok: true, result: present };
    case 'eq':
      return { ok: true, result: present && actual === claim.value };
    case 'ne':
      return { ok: true, result: !present || actual !== claim.value };
    case 'gte':
    case 'lte': {
      if (!present) return { ok: true, result: false };
      const expected = claim.value;
      // Strings compare by code unit, so ISO dates and months compare as dates.
      if (typeof actual === 'number' && typeof expected === 'number') return { ok: true, result: ordered(claim.op, actual, expected) };
      if (typeof actual === 'string' && typeof expected === 'string') return { ok: true, result: ordered(claim.op, actual, expected) };
      return {
        ok: false,
        reason: `field ${claim.field} holds a ${jsonType(actual)}; op "${claim.op}" cannot compare it with a ${jsonType(expected)}`,
      };
    }
  }
}

function ordered<T extends number | string>(op: 'gte' | 'lte', actual: T, expected: T): boolean {
  return op === 'gte' ? actual >= expected : actual <= expected;
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value === 'number' ? 'number' : typeof value;
}
