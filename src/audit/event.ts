import type { SubjectKind } from '../registry/model.js';

/** What happened, in one word: the `action` of an audit event. */
export type AuditAction =
  | 'token.issue'
  | 'lookup'
  | 'batch.item'
  | 'verification'
  | 'case.material'
  | 'admin.change'
  | 'audit.search'
  | 'audit.export'
  | 'audit.subject-accesses'
  | 'consent.request'
  | 'consent.decision'
  | 'consent.search'
  | 'objection.file'
  | 'objection.search'
  | 'objection.list'
  | 'objection.resolve'
  /** One summary per address and minute of requests refused by a per-address limit (src/audit/refusal-summary.ts). */
  | 'rate.limited';

export type AuditOutcome = 'ok' | 'not_found' | 'denied' | 'error';

/**
 * One audit event as a request produces it, before the writer chains it.
 * The raw subject id is never here: only its keyed HMAC (for search) and masked form (for display).
 */
export interface AuditEventInput {
  id: string;
  time: string;
  requestId: string;
  consumer: string | null;
  clientId: string | null;
  officer: string | null;
  action: AuditAction;
  type: string | null;
  provider: string | null;
  subjectKind: SubjectKind | null;
  subjectHmac: string | null;
  subjectMasked: string | null;
  purpose: string | null;
  caseId: string | null;
  fields: string[];
  outcome: AuditOutcome;
  errorCode: string | null;
  latencyMs: number;
  recordDigest: string | null;
  /** Free-form, non-personal detail (e.g. what an admin changed). */
  detail: Record<string, unknown> | null;
  /**
   * Only on an access under a covert grant: `covert: true` and when the subject may see it. Absent
   * (never null) on every other event, so events written before covert grants existed hash as they did.
   */
  covert?: true;
  discloseAt?: string;
}

/** A committed, chained audit event. */
export interface AuditEvent extends AuditEventInput {
  seq: number;
  prevHash: string;
  hash: string;
}
