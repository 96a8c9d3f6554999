import type { DB } from '../db/index.js';
import { isPlainObject } from '../json.js';
import type { AuditAction, AuditEvent, AuditOutcome } from './event.js';
import { fromRow } from './repository.js';

/**
 * What an auditor may filter on. Every given member must match; `from` is inclusive, `to`
 * exclusive. The subject is matched through its keyed HMAC, never a raw id.
 */
export interface AuditQueryFilters {
  consumer?: string | undefined;
  provider?: string | undefined;
  type?: string | undefined;
  subjectHmac?: string | undefined;
  caseId?: string | undefined;
  purpose?: string | undefined;
  officer?: string | undefined;
  outcome?: AuditOutcome | undefined;
  action?: AuditAction | undefined;
  /** Any of these actions (the data tracker's "data accesses"). */
  actions?: readonly AuditAction[] | undefined;
  from?: string | undefined;
  to?: string | undefined;
  /** true: only accesses under a covert grant; false: only the others. */
  covert?: boolean | undefined;
  /** Leaves out covert accesses not yet disclosed at this instant (the portal's view). */
  disclosedBy?: Date | undefined;
}

/** `audit_events` narrowed by the filters; callers add the select, order and limit. */
export function filteredEvents(db: DB, f: AuditQueryFilters) {
  let q = db.selectFrom('audit_events');
  if (f.consumer !== undefined) q = q.where('consumer', '=', f.consumer);
  if (f.provider !== undefined) q = q.where('provider', '=', f.provider);
  if (f.type !== undefined) q = q.where('type', '=', f.type);
  if (f.subjectHmac !== undefined) q = q.where('subject_hmac', '=', f.subjectHmac);
  if (f.caseId !== undefined) q = q.where('case_id', '=', f.caseId);
  if (f.purpose !== undefined) q = q.where('purpose', '=', f.purpose);
  if (f.officer !== undefined) q = q.where('officer', '=', f.officer);
  if (f.outcome !== undefined) q = q.where('outcome', '=', f.outcome);
  if (f.action !== undefined) q = q.where('action', '=', f.action);
  if (f.actions !== undefined) q = q.where('action', 'in', [...f.actions]);
  if (f.from !== undefined) q = q.where('time', '>=', new Date(f.from));
  if (f.to !== undefined) q = q.where('time', '<', new Date(f.to));
  if (f.covert !== undefined) q = q.where('disclose_at', f.covert ? 'is not' : 'is', null);
  if (f.disclosedBy !== undefined) {
    const by = f.disclosedBy;
    q = q.where((eb) => eb.or([eb('disclose_at', 'is', null), eb('disclose_at', '<=', by)]));
  }
  return q;
}

const CURSOR = /^[A-Za-z0-9_-]{1,512}$/;

/** An opaque page cursor: the seq the next (older) page starts below. */
export function encodeCursor(seq: number): string {
  return Buffer.from(JSON.stringify({ v: 1, before: seq })).toString('base64url');
}

/** The seq a cursor names, or null when it is not one this gateway issued. */
export function decodeCursor(cursor: string): number | null {
  if (!CURSOR.test(cursor)) return null;
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (!isPlainObject(value)) return null;
  const { v, before, ...rest } = value;
  if (v !== 1 || Object.keys(rest).length > 0) return null;
  return typeof before === 'number' && Number.isSafeInteger(before) && before > 0 ? before : null;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/**
 * One page of matching events, newest first, by keyset on seq (no OFFSET: page 1000 costs what
 * page 1 costs, and the indexes on (column, seq) serve the common filters).
 */
export async function searchEvents(
  db: DB,
  filters: AuditQueryFilters,
  page: { limit: number; before: number | null },
): Promise<Page<AuditEvent>> {
  let q = filteredEvents(db, filters).selectAll();
  if (page.before !== null) q = q.where('seq', '<', page.before);
  const rows = await q
    .orderBy('seq', 'desc')
    .limit(page.limit + 1)
    .execute();
  const items = rows.slice(0, page.limit).map((r) => fromRow(r));
  const last = items.at(-1);
  return { items, nextCursor: rows.length > page.limit && last ? encodeCursor(last.seq) : null };
}

export interface ScanOptions {
  /** Start after this seq (exclusive). */
  afterSeq?: number;
  /** Stop at this seq (inclusive). */
  upToSeq?: number;
  pageSize?: number;
}

/**
 * Every matching event in ascending seq order, a page at a time, so a whole trail can be exported
 * or verified without holding it in memory. Two rows sharing a seq exist only when the table was
 * tampered with; both are returned (ordered by time), so that verify and export show them.
 */
export async function* scanEvents(db: DB, filters: AuditQueryFilters, options: ScanOptions = {}): AsyncGenerator<AuditEvent[]> {
  const pageSize = options.pageSize ?? 1000;
  let after = options.afterSeq ?? 0;
  for (;;) {
    let q = filteredEvents(db, filters).selectAll().where('seq', '>', after);
    if (options.upToSeq !== undefined) q = q.where('seq', '<=', options.upToSeq);
    const rows = (await q.orderBy('seq').orderBy('time').limit(pageSize).execute()).map((r) => fromRow(r));
    const last = rows.at(-1);
    if (!last) return;
    if (rows.length < pageSize) {
      yield rows;
      return;
    }
    // A full page may have cut a run of equal seqs: take that seq whole, then continue after it.
    const boundary = last.seq;
    const run = (await filteredEvents(db, filters).selectAll().where('seq', '=', boundary).orderBy('time').execute()).map((r) =>
      fromRow(r),
    );
    yield [...rows.filter((e) => e.seq < boundary), ...run];
    after = boundary;
  }
}
