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
 *
 * One scan groups the window's calls by provider, outcome, code and latency (a few thousand groups
 * however many events); counts and exact percentiles (percentile_disc) are taken from those groups.
 */
export async function providerCounts(db: DB, from: Date, to: Date): Promise<ProviderCounts[]> {
  const codes = sql.join(PROVIDER_FAILURE_CODES.map((c) => sql`${c}`));
  const { rows } = await sql<{ provider: string; outcome: string; error_code: string | null; latency_ms: number; n: number }>`
    select provider, outcome, error_code, latency_ms, count(*)::int as n from audit_events
    where time >= ${from} and time < ${to} and provider is not null
      and action in ('lookup', 'batch.item', 'case.material', 'verification')
      and (outcome in ('ok', 'not_found') or error_code in (${codes}))
    group by provider, outcome, error_code, latency_ms`.execute(db);
  const byProvider = new Map<string, { counts: ProviderCounts; latencies: Array<[number, number]> }>();
  for (const r of rows) {
    let entry = byProvider.get(r.provider);
    if (!entry) {
      entry = {
        counts: { provider: r.provider, calls: 0, ok: 0, notFound: 0, failed: 0, byCode: {}, p50Ms: null, p95Ms: null },
        latencies: [],
      };
      byProvider.set(r.provider, entry);
    }
    const n = Number(r.n);
    const c = entry.counts;
    c.calls += n;
    if (r.outcome === 'ok') c.ok += n;
    else if (r.outcome === 'not_found') c.notFound += n;
    else {
      c.failed += n;
      const code = r.error_code ?? 'unknown';
      c.byCode[code] = (c.byCode[code] ?? 0) + n;
    }
    entry.latencies.push([Number(r.latency_ms), n]);
  }
  return [...byProvider.values()].map(({ counts, latencies }) => {
    latencies.sort((a, b) => a[0] - b[0]);
    return { ...counts, p50Ms: percentileOf(latencies, counts.calls, 0.5), p95Ms: percentileOf(latencies, counts.calls, 0.95) };
  });
}

/** percentile_disc over (value, count) pairs sorted by value: the first value whose cumulative share reaches p. */
export function percentileOf(sorted: ReadonlyArray<readonly [number, number]>, total: number, p: number): number | null {
  if (total === 0) return null;
  let seen = 0;
  for (const [value, n] of sorted) {
    seen += n;
    if (seen / total >= p) return value;
  }
  return sorted[sorted.length - 1]![0];
}
