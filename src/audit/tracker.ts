import type { DB } from '../db/index.js';
import type { Schema } from '../openapi.js';
import type { AuditAction, AuditEvent } from './event.js';
import { searchEvents, type Page } from './query.js';

/** Events that touched a subject's data, as the data tracker lists them (auditors' own reads are not). */
export const DATA_ACCESS_ACTIONS = [
  'lookup',
  'batch.item',
  'verification',
  'case.material',
  'consent.request',
  'consent.decision',
] as const satisfies readonly AuditAction[];

/** Display names from the registry; null when a code is no longer registered. */
export interface DisplayNames {
  department(code: string): { zh: string; en: string } | null;
  typeTitle(type: string): string | null;
  procedureTitle(code: string): string | null;
}

/** One access to a subject's data, for display to the subject. */
export type SubjectAccess = Schema<'SubjectAccess'>;

export interface TrackerQuery {
  subjectHmac: string;
  from?: string | undefined;
  to?: string | undefined;
  limit: number;
  before: number | null;
  /**
   * The subject's own view (portal): covert accesses not disclosed by this instant are left out,
   * and disclosed ones read like any other. Undefined: the auditor's view, covert ones flagged.
   */
  disclosedBy?: Date | undefined;
}

/** Who accessed this subject's data, newest first, with registry names resolved. */
export async function listSubjectAccesses(db: DB, query: TrackerQuery, names: DisplayNames): Promise<Page<SubjectAccess>> {
  const page = await searchEvents(
    db,
    { subjectHmac: query.subjectHmac, actions: DATA_ACCESS_ACTIONS, from: query.from, to: query.to, disclosedBy: query.disclosedBy },
    { limit: query.limit, before: query.before },
  );
  const flagged = query.disclosedBy === undefined;
  return { items: page.items.map((e) => toAccess(e, names, flagged)), nextCursor: page.nextCursor };
}

function toAccess(e: AuditEvent, names: DisplayNames, flagged: boolean): SubjectAccess {
  const access: SubjectAccess = {
    time: e.time,
    consumer: e.consumer,
    consumerName: e.consumer === null ? null : names.department(e.consumer),
    type: e.type,
    typeTitle: e.type === null ? null : names.typeTitle(e.type),
    provider: e.provider,
    purpose: e.purpose,
    // A case material's purpose is its procedure; every other access names a procedure as purpose too.
    procedureTitle: e.purpose === null ? null : names.procedureTitle(e.purpose),
    caseId: e.caseId,
    officer: e.officer,
    outcome: e.outcome,
    action: e.action as SubjectAccess['action'],
    fields: e.fields,
  };
  if (flagged && e.discloseAt !== undefined) Object.assign(access, { covert: true, discloseAt: e.discloseAt });
  return access;
}
