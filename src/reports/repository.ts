import { sql } from 'kysely';
import type { DB } from '../db/index.js';

/** Cases of one procedure handled by one consumer department in a window. */
export interface CaseCounts {
  procedure: string;
  consumer: string;
  cases: number;
  oneTripCases: number;
  fetched: number;
  toSubmit: number;
  /** To-submit materials by the reason recorded in their `case.material` events. */
  toSubmitByReason: Record<string, number>;
}

/**
 * Case counts from `report_cases` (one row per case, kept by a trigger on audit_events, migration
 * 0006): cases whose first material event lies in [from, to). A one-trip case has nothing to submit.
 */
export async function caseCounts(db: DB, from: Date, to: Date): Promise<CaseCounts[]> {
  const [totals, reasons] = await Promise.all([
    db
      .selectFrom('report_cases')
      .select((eb) => [
        'procedure',
        'consumer',
        eb.fn.countAll<number>().as('cases'),
        sql<number>`count(*) filter (where to_submit = 0)`.as('one_trip_cases'),
        sql<number>`coalesce(sum(fetched), 0)`.as('fetched'),
        sql<number>`coalesce(sum(to_submit), 0)`.as('to_submit'),
      ])
      .where('started_at', '>=', from)
      .where('started_at', '<', to)
      .groupBy(['procedure', 'consumer'])
      .execute(),
    sql<{ procedure: string; consumer: string; reason: string; n: number }>`
      select procedure, consumer, reason.key as reason, sum(reason.value::int) as n
      from report_cases, jsonb_each_text(reasons) as reason
      where started_at >= ${from} and started_at < ${to} and to_submit > 0
      group by procedure, consumer, reason.key`.execute(db),
  ]);
  const byKey = new Map<string, CaseCounts>();
  for (const r of totals) {
    byKey.set(`${r.procedure}\u0000${r.consumer}`, {
      procedure: r.procedure,
      consumer: r.consumer,
      cases: Number(r.cases),
      oneTripCases: Number(r.one_trip_cases),
      fetched: Number(r.fetched),
      toSubmit: Number(r.to_submit),
      toSubmitByReason: {},
    });
  }
  for (const r of reasons.rows) {
    const row = byKey.get(`${r.procedure}\u0000${r.consumer}`);
    if (row) row.toSubmitByReason[r.reason] = Number(r.n);
  }
  return [...byKey.values()];
}

/** What one provider department's calls came to in a window. */
export interface ProviderCounts {
  provider: string;
  calls: number;
  ok: number;
  notFound: number;
  failed: number;
  byCode: Record<string, number>;
  p50Ms: number | null;
  p95Ms: number | null;
}

/** Error codes of an item that reached (or tried to reach) its provider and failed there. */
export const PROVIDER_FAILURE_CODES = ['PROVIDER_ERROR', 'PROVIDER_BAD_RESPONSE', 'PROVIDER_TIMEOUT', 'PROVIDER_UNAVAILABLE'] as const;

/**
 * Provider calls from the audit trail: every lookup, batch item, case material and verification
 * event that names a provider and either got an answer (`ok`, `not_found`) or failed at the
 * provider (PROVIDER_* codes). Policy refusals never reached the provider and are not calls.
 * Latency is the event's `latencyMs` (from the request's start to the event).
 */
export async function providerCounts(db: DB, from: Date, to: Date): Promise<ProviderCounts[]> {
  const codes = sql.join(PROVIDER_FAILURE_CODES.map((c) => sql`${c}`));
  const { rows } = await sql<{
    provider: string;
    calls: number;
    ok: number;
    not_found: number;
    failed: number;
    p50: number | null;
    p95: number | null;
    by_code: Record<string, number> | null;
  }>`
    with calls as (
      select provider, outcome, error_code, latency_ms from audit_events
      where time >= ${from} and time < ${to} and provider is not null
        and action in ('lookup', 'batch.item', 'case.material', 'verification')
        and (outcome in ('ok', 'not_found') or error_code in (${codes}))
    )
    select provider, count(*)::int as calls,
      (count(*) filter (where outcome = 'ok'))::int as ok,
      (count(*) filter (where outcome = 'not_found'))::int as not_found,
      (count(*) filter (where outcome not in ('ok', 'not_found')))::int as failed,
      percentile_disc(0.5) within group (order by latency_ms) as p50,
      percentile_disc(0.95) within group (order by latency_ms) as p95,
      (select jsonb_object_agg(error_code, n) from (
        select error_code, count(*)::int as n from calls f where f.provider = c.provider and f.outcome not in ('ok', 'not_found') group by error_code
      ) failed) as by_code
    from calls c group by provider`.execute(db);
  return rows.map((r) => {
    const byCode = typeof r.by_code === 'string' ? (JSON.parse(r.by_code) as Record<string, number>) : (r.by_code ?? {});
    return {
      provider: r.provider,
      calls: Number(r.calls),
      ok: Number(r.ok),
      notFound: Number(r.not_found),
      failed: Number(r.failed),
      byCode,
      p50Ms: r.p50 === null ? null : Number(r.p50),
      p95Ms: r.p95 === null ? null : Number(r.p95),
    };
  });
}
