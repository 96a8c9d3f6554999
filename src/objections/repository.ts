import { sql, type Selectable } from 'kysely';
import { eventsAbout } from '../audit/repository.js';
import { DATA_ACCESS_ACTIONS } from '../audit/tracker.js';
import type { DB } from '../db/index.js';
import type { ObjectionsTable } from '../db/schema.js';

export type ObjectionStatus = ObjectionsTable['status'];
export type ObjectionRow = Selectable<ObjectionsTable>;

/** An objection as the application sees it; the subject id stays sealed until a view opens it. */
export interface Objection {
  objectionId: string;
  type: string;
  provider: string;
  subjectKind: 'person' | 'enterprise';
  subjectHmac: string;
  subjectSealed: string;
  field: string | null;
  lookupId: string | null;
  statement: string;
  status: ObjectionStatus;
  response: string | null;
  createdAt: string;
  resolvedAt: string | null;
}

const iso = (d: Date | string) => new Date(d).toISOString();

function toObjection(r: ObjectionRow): Objection {
  return {
    objectionId: r.objection_id,
    type: r.type,
    provider: r.provider,
    subjectKind: r.subject_kind,
    subjectHmac: r.subject_hmac,
    subjectSealed: r.subject_sealed,
    field: r.field,
    lookupId: r.lookup_id,
    statement: r.statement,
    status: r.status,
    response: r.response,
    createdAt: iso(r.created_at),
    resolvedAt: r.resolved_at ? iso(r.resolved_at) : null,
  };
}

export async function insertObjection(db: DB, o: Objection & { filedBy: string }): Promise<void> {
  await db
    .insertInto('objections')
    .values({
      objection_id: o.objectionId,
      type: o.type,
      provider: o.provider,
      subject_kind: o.subjectKind,
      subject_hmac: o.subjectHmac,
      subject_sealed: o.subjectSealed,
      field: o.field,
      lookup_id: o.lookupId,
      statement: o.statement,
      status: o.status,
      response: o.response,
      filed_by: o.filedBy,
      created_at: o.createdAt,
      resolved_at: o.resolvedAt,
    })
    .execute();
}

export async function findObjection(db: DB, objectionId: string): Promise<Objection | undefined> {
  const r = await db.selectFrom('objections').selectAll().where('objection_id', '=', objectionId).executeTakeFirst();
  return r && toObjection(r);
}

/** A subject's objections, newest first. */
export async function listForSubject(db: DB, subjectHmac: string, limit: number): Promise<Objection[]> {
  const rows = await db
    .selectFrom('objections')
    .selectAll()
    .where('subject_hmac', '=', subjectHmac)
    .orderBy('created_at', 'desc')
    .limit(limit)
    .execute();
  return rows.map(toObjection);
}

/** Objections to these types in one status, oldest first (the provider's work queue). */
export async function listForTypes(db: DB, types: readonly string[], status: ObjectionStatus, limit: number): Promise<Objection[]> {
  if (types.length === 0) return [];
  const rows = await db
    .selectFrom('objections')
    .selectAll()
    .where('type', 'in', [...types])
    .where('status', '=', status)
    .orderBy('created_at')
    .orderBy('objection_id')
    .limit(limit)
    .execute();
  return rows.map(toObjection);
}

/**
 * Resolves an open objection. Undefined when it was no longer open: the only concurrent change is
 * another resolution, and the `status = 'open'` condition lets exactly one of them win.
 */
export async function resolveObjection(
  db: DB,
  objectionId: string,
  resolution: { status: Exclude<ObjectionStatus, 'open'>; response: string; resolvedBy: string; resolvedAt: string },
): Promise<Objection | undefined> {
  const r = await db
    .updateTable('objections')
    .set({
      status: resolution.status,
      response: resolution.response,
      resolved_by: resolution.resolvedBy,
      resolved_at: resolution.resolvedAt,
    })
    .where('objection_id', '=', objectionId)
    .where('status', '=', 'open')
    .returningAll()
    .executeTakeFirst();
  return r && toObjection(r);
}

/** Open objections per type (served by the partial index objections_open). */
export async function openCountsByType(db: DB): Promise<Map<string, number>> {
  const rows = await db
    .selectFrom('objections')
    .select(['type', sql<number>`count(*)::int`.as('n')])
    .where('status', '=', 'open')
    .groupBy('type')
    .execute();
  return new Map(rows.map((r) => [r.type, Number(r.n)]));
}

export async function hasOpenObjection(db: DB, type: string, subjectHmac: string): Promise<boolean> {
  const row = await db
    .selectFrom('objections')
    .select(sql<number>`1`.as('one'))
    .where('type', '=', type)
    .where('subject_hmac', '=', subjectHmac)
    .where('status', '=', 'open')
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/** Was `lookupId` an access to this subject's record of this type that the subject may see (at `now`)? */
export async function isDisclosedAccess(
  db: DB,
  access: { lookupId: string; subjectHmac: string; type: string; now: Date },
): Promise<boolean> {
  const row = await eventsAbout(db, access)
    .select('seq')
    .where('id', '=', access.lookupId)
    .where('action', 'in', [...DATA_ACCESS_ACTIONS])
    // An undisclosed covert access is not one the person can object to yet (nor learn of here).
    .where((eb) => eb.or([eb('disclose_at', 'is', null), eb('disclose_at', '<=', access.now)]))
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}
