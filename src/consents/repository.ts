import type { Selectable } from 'kysely';
import type { Database, DB } from '../db/index.js';
import type { Consent } from './model.js';

/** Consent rows → Consent objects, and the conditional updates that make each transition happen once. */

const iso = (d: Date | string) => new Date(d).toISOString();

function toConsent(r: Selectable<Database['consents']>): Consent {
  return {
    consentId: r.consent_id,
    consumer: r.consumer,
    clientId: r.client_id,
    type: r.type,
    fields: r.fields,
    purpose: r.purpose,
    caseId: r.case_id,
    officer: r.officer,
    subjectKind: r.subject_kind,
    subjectHmac: r.subject_hmac,
    subjectMasked: r.subject_masked,
    status: r.status,
    requestedAt: iso(r.requested_at),
    expiresAt: iso(r.expires_at),
    decidedAt: r.decided_at ? iso(r.decided_at) : null,
    usedAt: r.used_at ? iso(r.used_at) : null,
  };
}

export async function insertConsent(db: DB, c: Omit<Consent, 'status' | 'decidedAt' | 'usedAt'>): Promise<void> {
  await db
    .insertInto('consents')
    .values({
      consent_id: c.consentId,
      consumer: c.consumer,
      client_id: c.clientId,
      type: c.type,
      fields: JSON.stringify(c.fields),
      purpose: c.purpose,
      case_id: c.caseId,
      officer: c.officer,
      subject_kind: c.subjectKind,
      subject_hmac: c.subjectHmac,
      subject_masked: c.subjectMasked,
      requested_at: c.requestedAt,
      expires_at: c.expiresAt,
    })
    .execute();
}

export async function findConsent(db: DB, consentId: string): Promise<Consent | undefined> {
  const r = await db.selectFrom('consents').selectAll().where('consent_id', '=', consentId).executeTakeFirst();
  return r && toConsent(r);
}

/** A subject's consents, newest first (at most `limit`). */
export async function listConsentsOfSubject(db: DB, subjectHmac: string, limit: number): Promise<Consent[]> {
  const rows = await db
    .selectFrom('consents')
    .selectAll()
    .where('subject_hmac', '=', subjectHmac)
    .orderBy('requested_at', 'desc')
    .orderBy('consent_id')
    .limit(limit)
    .execute();
  return rows.map(toConsent);
}

/**
 * pending → approved | denied, only while still pending and unexpired at `now`. The condition is
 * in the UPDATE itself, so of two concurrent decisions exactly one wins; undefined for the loser.
 */
export async function decideConsent(db: DB, consentId: string, decision: 'approved' | 'denied', now: Date): Promise<Consent | undefined> {
  return transition(db, consentId, 'pending', { status: decision, decided_at: now }, now);
}

/**
 * approved → used, only while approved and unexpired at `now`: however many repeats race for
 * one approval, exactly one UPDATE matches (row lock + re-check under READ COMMITTED).
 */
export async function claimConsent(db: DB, consentId: string, now: Date): Promise<Consent | undefined> {
  return transition(db, consentId, 'approved', { status: 'used', used_at: now }, now);
}

/** Moves a consent on from status `from` while it is unexpired at `now`, in one conditional UPDATE. */
async function transition(
  db: DB,
  consentId: string,
  from: 'pending' | 'approved',
  set: { status: 'approved' | 'denied'; decided_at: Date } | { status: 'used'; used_at: Date },
  now: Date,
): Promise<Consent | undefined> {
  const r = await db
    .updateTable('consents')
    .set(set)
    .where('consent_id', '=', consentId)
    .where('status', '=', from)
    .where('expires_at', '>', now)
    .returningAll()
    .executeTakeFirst();
  return r && toConsent(r);
}
