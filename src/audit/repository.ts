import { CompiledQuery, sql, type Insertable, type Selectable } from 'kysely';
import { runPrepared, type DB } from '../db/index.js';
import type { AuditEventsTable } from '../db/schema.js';
import type { ChainPoint } from './chain.js';
import type { AuditEvent } from './event.js';

/** The trail's events about one subject (its HMAC) and type: what other areas ask the trail about. */
export function eventsAbout(db: DB, about: { subjectHmac: string; type: string }) {
  return db.selectFrom('audit_events').where('subject_hmac', '=', about.subjectHmac).where('type', '=', about.type);
}

export async function lockChainHead(trx: DB): Promise<ChainPoint> {
  const row = await trx.selectFrom('audit_chain_head').select(['seq', 'hash']).where('id', '=', 1).forUpdate().executeTakeFirstOrThrow();
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

/**
 * The batch's rows as PostgreSQL reads them from `chainBatch`'s JSON (camelCase members, as they
 * were hashed; `covert` is implied by discloseAt). One JSON parameter expanded by PostgreSQL
 * parses and plans far less than a VALUES list of 23 parameters per row.
 */
const BATCH_ROWS = `
  insert into audit_events (seq, id, time, request_id, consumer, client_id, officer, action, type, provider, subject_kind,
    subject_hmac, subject_masked, purpose, case_id, fields, outcome, error_code, latency_ms, record_digest, detail, prev_hash,
    hash, disclose_at)
  select r."seq", r."id", r."time", r."requestId", r."consumer", r."clientId", r."officer", r."action", r."type", r."provider",
    r."subjectKind", r."subjectHmac", r."subjectMasked", r."purpose", r."caseId", r."fields", r."outcome", r."errorCode",
    r."latencyMs", r."recordDigest", r."detail", r."prevHash", r."hash", r."discloseAt"
  from jsonb_to_recordset($1::jsonb) as r("seq" bigint, "id" uuid, "time" timestamptz, "requestId" text, "consumer" text,
    "clientId" text, "officer" text, "action" text, "type" text, "provider" text, "subjectKind" text, "subjectHmac" text,
    "subjectMasked" text, "purpose" text, "caseId" text, "fields" jsonb, "outcome" text, "errorCode" text, "latencyMs" integer,
    "recordDigest" text, "detail" jsonb, "prevHash" text, "hash" text, "discloseAt" timestamptz)`;

// The statements' texts are fixed, so they are built once and sent as they are (no query builder per batch).
const APPEND = `
  with inserted as (${BATCH_ROWS} returning 1)
  update audit_chain_head set seq = $2, hash = $3 where id = 1`;

// An INSERT as the statement itself, so its command tag counts the rows and no row set is described
// or parsed: as many rows as the batch when the head moved, none when it had moved elsewhere.
const APPEND_IF_HEAD = `
  with durable as (select set_config('synchronous_commit', 'on', true) as setting),
  moved as (
    update audit_chain_head set seq = $2, hash = $3
    where id = 1 and seq = $4 and hash = $5 and (select setting from durable) is not null
    returning 1
  )
  ${BATCH_ROWS} where exists (select 1 from moved)`;

/**
 * The writer's insert, in one statement with the head move (one round trip fewer under a busy
 * event loop). `json` is `chainBatch(…).json`; `head` the chain point after its last event.
 */
export async function appendEvents(trx: DB, json: string, head: ChainPoint): Promise<void> {
  await trx.executeQuery(CompiledQuery.raw(APPEND, [json, head.seq, head.hash]));
}

/**
 * The writer's fast path, one statement and one round trip: inserts the batch and moves the head
 * only if the head is still `expected` (the head the batch was chained onto), all in the statement's
 * own transaction with synchronous_commit on. False, with nothing written, when the head has moved
 * (another replica wrote first); the writer then chains again under the head lock.
 */
export async function appendEventsIfHead(db: DB, json: string, count: number, expected: ChainPoint, head: ChainPoint): Promise<boolean> {
  const values = [json, head.seq, head.hash, expected.seq, expected.hash];
  // A prepared statement on PostgreSQL: parsing and planning it was ~0.3 ms of the server's CPU per batch.
  const prepared = await runPrepared(db, 'onetrip_audit_append_if_head', APPEND_IF_HEAD, values);
  const inserted =
    prepared !== null
      ? (prepared.rowCount ?? -1)
      : Number((await db.executeQuery(CompiledQuery.raw(APPEND_IF_HEAD, values))).numAffectedRows ?? -1);
  if (inserted === count) return true;
  if (inserted === 0) return false;
  throw new Error(`audit batch of ${count} events inserted ${inserted} rows`);
}

/** lockChainHead, also making this transaction's commit synchronous (one round trip for both). */
export async function lockChainHeadDurably(trx: DB): Promise<ChainPoint> {
  const { rows } = await sql<{ seq: number; hash: string }>`
    select seq, hash, set_config('synchronous_commit', 'on', true) as synchronous_commit
    from audit_chain_head where id = 1 for update`.execute(trx);
  const row = rows[0];
  if (!row) throw new Error('audit_chain_head has no row');
  return { seq: Number(row.seq), hash: row.hash };
}

/** The row that stores an event (tests insert forged ones through it, as an attacker with INSERT could). */
export function toRow(e: AuditEvent): Insertable<AuditEventsTable> {
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
    disclose_at: e.discloseAt ?? null,
  };
}

export function fromRow(row: Selectable<AuditEventsTable>): AuditEvent {
  return {
    // bigint and numeric columns arrive as strings from pg.
    seq: Number(row.seq),
    id: row.id,
    time: new Date(row.time).toISOString(),
    requestId: row.request_id,
    consumer: row.consumer,
    clientId: row.client_id,
    officer: row.officer,
    action: row.action,
    type: row.type,
    provider: row.provider,
    subjectKind: row.subject_kind,
    subjectHmac: row.subject_hmac,
    subjectMasked: row.subject_masked,
    purpose: row.purpose,
    caseId: row.case_id,
    fields: row.fields ?? [],
    outcome: row.outcome,
    errorCode: row.error_code,
    latencyMs: Number(row.latency_ms),
    recordDigest: row.record_digest,
    detail: row.detail,
    prevHash: row.prev_hash,
    hash: row.hash,
    // Only present when set: an overt event has neither member (as it was hashed).
    ...(row.disclose_at ? { covert: true as const, discloseAt: new Date(row.disclose_at).toISOString() } : {}),
  };
}
