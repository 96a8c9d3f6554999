import { isPlainObject } from '../json.js';
import type { TypeKind } from '../registry/model.js';
import { recordRows } from './rows.js';

/**
 * Keeps only `fields` of a record. A certificate is one object; a record type is `{rows: [...]}`
 * whose row columns are its fields, so minimisation applies to every row.
 */
export function minimiseRecord(kind: TypeKind, record: Record<string, unknown>, fields: readonly string[]): Record<string, unknown> {
  if (kind === 'record') return { rows: recordRows(kind, record).map((row) => (isPlainObject(row) ? pick(row, fields) : {})) };
  return pick(record, fields);
}

/** The `fields` of one object (a module function, not a closure made per lookup: issue 12). */
function pick(obj: Record<string, unknown>, fields: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) if (Object.hasOwn(obj, f)) out[f] = obj[f];
  return out;
}
