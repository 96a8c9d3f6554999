import { sql } from 'kysely';
import type { DB } from '../db/index.js';
import { eventsAbout } from './repository.js';

/**
 * How many verifications `consumer` has had answered about one subject and type since `since`
 * (VERIFY_BUDGET_PER_DAY). Counted from the audit trail, which every replica shares and writes
 * before it answers, so the budget holds across replicas without another store. Only answered
 * claims count (`ok`, `not_found`): a refusal tells the caller nothing about the data.
 */
export async function countAnsweredVerifications(
  db: DB,
  key: { consumer: string; subjectHmac: string; type: string; since: Date },
): Promise<number> {
  const row = await eventsAbout(db, key)
    .select(sql<number>`count(*)::int`.as('n'))
    .where('action', '=', 'verification')
    .where('consumer', '=', key.consumer)
    .where('outcome', 'in', ['ok', 'not_found'])
    .where('time', '>=', key.since)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}
