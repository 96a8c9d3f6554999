import { sql, type Insertable } from 'kysely';
import type { DB } from '../db/index.js';
import type { AuditEventsTable } from '../db/schema.js';
import type { ChainPoint } from './chain.js';
import type { AuditAction, AuditEvent, AuditOutcome } from './event.js';

export async function lockChainHead(trx: DB): Promise<ChainPoint> {
  const row = await trx
    .selectFrom('audit_chain_head')
    .select(['seq', 'hash'])
    .where('id', '=', 1)
    .forUpdate()
    .executeTakeFirstOrThrow();
  return { seq: Number(row.seq), hash: row.hash };
}

export async function readChainHead(db: DB): Promise<ChainPoint & { anchor: ChainPoint }> {
  const row = await db.selectFrom('audit_chain_head').selectAll().where('id', '=', 1).executeTakeFirstOrThrow();
  return { seq: Number(row.seq), hash: row.hash, anchor: { seq: Number(row.anchor_seq), hash: row.anchor_hash } };
}

export async function ensureMonthPartition(trx: DB, monthOf: Date): Promise<void> {
  await sql`select onetrip_audit_ensure_partition(${monthOf.toISOString()}::timestamptz)`.execute(trx);
}

export async function insertEvents(trx: DB, events: readonly AuditEvent[], head: ChainPoint): Promise<void> {
  await trx.insertInto('audit_events').values(events.map(toRow)).execute();
  await trx.updateTable('audit_chain_head').set({ seq: head.seq, hash: head.hash }).where('id', '=', 1).execute();
}

function toRow(e: AuditEvent): Insertable<AuditEventsTable> {
  return {
    seq: e.seq,
    id: e.id,
    time: e.time,
    request_id: e.requestId,
    consumer: e.consumer,
    client_id: e.clientId,
    officer: e.officer,
    action: e.action,
    type: e.type,
    provider: e.provider,
    subject_kind: e.subjectKind,
    subject_hmac: e.subjectHmac,
    subject_masked: e.subjectMasked,
    purpose: e.purpose,
    case_id: e.caseId,
    fields: JSON.stringify(e.fields),
    outcome: e.outcome,
    error_code: e.errorCode,
    latency_ms: e.latencyMs,
    record_digest: e.recordDigest,
    detail: JSON.stringify(e.detail),
    prev_hash: e.prevHash,
    hash: e.hash,
  };
}

export function fromRow(row: Record<string, unknown>): AuditEvent {
  return {
    seq: Number(row.seq),
    id: String(row.id),
    time: new Date(row.time as string | Date).toISOString(),
    requestId: row.request_id as string,
    consumer: (row.consumer as string | null) ?? null,
    clientId: (row.client_id as string | null) ?? null,
    officer: (row.officer as string | null) ?? null,
    action: row.action as AuditAction,
    type: (row.type as string | null) ?? null,
    provider: (row.provider as string | null) ?? null,
    subjectKind: (row.subject_kind as AuditEvent['subjectKind']) ?? null,
    subjectHmac: (row.subject_hmac as string | null) ?? null,
    subjectMasked: (row.subject_masked as string | null) ?? null,
    purpose: (row.purpose as string | null) ?? null,
    caseId: (row.case_id as string | null) ?? null,
    fields: (row.fields as string[]) ?? [],
    outcome: row.outcome as AuditOutcome,
    errorCode: (row.error_code as string | null) ?? null,
    latencyMs: Number(row.latency_ms),
    recordDigest: (row.record_digest as string | null) ?? null,
    detail: (row.detail as Record<string, unknown> | null) ?? null,
    prevHash: row.prev_hash as string,
    hash: row.hash as string,
  };
}
