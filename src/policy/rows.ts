import type { TypeKind } from '../registry/model.js';

/**
 * The objects a record's fields live in: a certificate is one object; a record type is
 * `{rows: [...]}` whose row columns are its fields (no rows when `rows` is not an array).
 * Elements are as the provider sent them: callers that read members check each one is an object.
 */
export function recordRows(kind: TypeKind, record: Record<string, unknown>): unknown[] {
  if (kind !== 'record') return [record];
  return Array.isArray(record.rows) ? record.rows : [];
}
