import type { TypeKind } from '../registry/model.js';

/**
 * Keeps only `fields` of a record. A certificate is one object; a record type is `{rows: [...]}`
 * whose row columns are its fields, so minimisation applies to every row.
 */
export function minimiseRecord(kind: TypeKind, record: Record<string, unknown>, fields: readonly string[]): Record<string, unknown> {
  const pick = (obj: Record<string, unknown>) => {
    const out: Record<string, unknown> = {};
    for (const f of fields) if (Object.hasOwn(obj, f)) out[f] = obj[f];
    return out;
  };
  if (kind === 'record') {
    const rows = Array.isArray(record.rows) ? (record.rows as Record<string, unknown>[]) : [];
    return { rows: rows.map(pick) };
  }
  return pick(record);
}
