/**
 * `npm run bench:reports` — once-only reports over a large trail, against a real PostgreSQL
 * (DATABASE_URL, TEST_DATABASE_URL, or postgres://postgres@127.0.0.1:5432/test). Creates and drops
 * its own throwaway database; talks to loopback only; every loop is bounded.
 *
 * (a) what the report_cases trigger costs the audit writer: group-commit events/s with the trigger
 *     on and off, for lookup events and for case.material events (64 concurrent appends)
 * (b) p50/p95 of GET /v1/reports/once-only (30 days) over BENCH_EVENTS (default 1,000,000) events
 *     bulk-loaded through the trigger (target p95 <= 1 s); also the providers report, informational
 *
 * BENCH_ONLY=a or b runs one part.
 */
import { sql } from 'kysely';
import type { FastifyInstance } from 'fastify';
import type { AuditEventInput } from '../src/audit/event.js';
import { ensureMonthPartition, lockChainHead } from '../src/audit/repository.js';
import { AuditWriter } from '../src/audit/writer.js';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import type { DB } from '../src/db/index.js';
import { registerDemoProviders, seedDemo } from '../src/demo/seed.js';
import { percentile, runBenchSteps, syntheticInput, throughput, type BenchDatabase } from './audit-support.js';

const ADMIN_URL = process.env.DATABASE_URL || process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const ONLY = (process.env.BENCH_ONLY ?? 'a,b').split(',');
const CONCURRENCY = 64;
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

function caseMaterialInput(i: number): AuditEventInput {
  const missing = i % 4 === 0;
  return {
    ...syntheticInput(i),
    action: 'case.material',
    requestId: `bench-case-${Math.floor(i / 3)}`,
    outcome: missing ? 'not_found' : 'ok',
    errorCode: missing ? 'RECORD_NOT_FOUND' : null,
    detail: missing ? { reason: 'not_held' } : null,
  };
}

async function setTrigger(db: DB, on: boolean) {
  await sql.raw(`alter table audit_events ${on ? 'enable' : 'disable'} trigger audit_events_report_cases`).execute(db);
}

async function triggerCost(db: BenchDatabase) {
  const writer = new AuditWriter(db.db, { maxEvents: 256, intervalMs: 0, logger: { error: () => {}, warn: () => {} } });
  let next = 0;
  const round = (make: (i: number) => AuditEventInput) => throughput(CONCURRENCY, 40, () => writer.append(make(next++)));
  await round(syntheticInput); // warm-up (partition, pool)
  const rates: Record<string, number[]> = {};
  for (let r = 0; r < 3; r++) {
    for (const [name, make] of [
      ['lookup', syntheticInput],
      ['case.material', caseMaterialInput],
    ] as const) {
      for (const on of [true, false]) {
        await setTrigger(db.db, on);
        (rates[`${name} ${on ? 'on' : 'off'}`] ??= []).push(await round(make));
      }
    }
  }
  await setTrigger(db.db, true);
  await writer.close();
  console.log(`(a) audit writer, ${CONCURRENCY} concurrent appends, group commit; best of 3 interleaved rounds of ${CONCURRENCY * 40}`);
  for (const name of ['lookup', 'case.material']) {
    const on = Math.max(...rates[`${name} on`]!);
    const off = Math.max(...rates[`${name} off`]!);
    console.log(`    ${name} events: trigger on ${fmt(on)} events/s, off ${fmt(off)} events/s (ratio ${fmt(on / off, 2)})`);
  }
}

/**
 * Bulk-loads `total` events over the past 60 days through the parent table, so the trigger builds
 * report_cases as the writer would: 70% case materials (up to 4 per case, 5 procedures, 5 consumer
 * departments, a mix of fetched and each reason), the rest lookups. Not chained (placeholder hashes).
 */
async function loadCaseTrail(db: DB, total: number): Promise<void> {
  const now = Date.now();
  const start = new Date(now - 60 * 86_400_000);
  for (let d = 0; d <= 60; d += 10) await ensureMonthPartition(db, new Date(start.getTime() + d * 86_400_000));
  await ensureMonthPartition(db, new Date(now));
  const base = (await lockChainHead(db)).seq;
  const step = (now - start.getTime()) / total / 1000;
  const chunk = 100_000;
  for (let from = 1; from <= total; from += chunk) {
    const to = Math.min(total, from + chunk - 1);
    await sql`
      insert into audit_events (seq, id, time, request_id, consumer, client_id, officer, action, type, provider, subject_kind,
        subject_hmac, subject_masked, purpose, case_id, fields, outcome, error_code, latency_ms, record_digest, detail, prev_hash, hash)
      select ${base}::bigint + g, gen_random_uuid(), ${start}::timestamptz + make_interval(secs => g * ${step}::float8), 'bench-' || (g / 4),
        (array['housing-fund','civil-affairs','taxation','human-resources','market-regulation'])[1 + (g / 4) % 5], 'bench-client', 'officer-' || (g % 300),
        case when g % 10 < 7 then 'case.material' else 'lookup' end, 'household-registration',
        (array['public-security','civil-affairs','natural-resources','human-resources'])[1 + g % 4], 'person', md5(g::text), '110*************2X',
        (array['housing-fund-withdrawal','talent-subsidy','marriage-registration-application','enterprise-establishment','special-additional-deduction'])[1 + (g / 4) % 5],
        'BENCH-' || (g / 4), '["name"]'::jsonb,
        (array['ok','ok','ok','ok','ok','ok','not_found','denied','error','ok'])[1 + (g * 7) % 10],
        (array[null,null,null,null,null,null,'RECORD_NOT_FOUND','NOT_GRANTED','PROVIDER_ERROR',null])[1 + (g * 7) % 10],
        (g % 97)::int, null,
        case when g % 10 < 7 then (array['null','null','null','null','null','null','{"reason":"not_held"}','{"reason":"not_granted"}','{"reason":"provider_failed"}','null'])[1 + (g * 7) % 10]::jsonb else 'null'::jsonb end,
        repeat('0', 64), md5(g::text) || md5(g::text)
      from generate_series(${from}::bigint, ${to}::bigint) g`.execute(db);
  }
  await sql`update audit_chain_head set seq = ${base + total}, hash = repeat('0', 64) where id = 1`.execute(db);
  await sql`analyze audit_events`.execute(db);
  await sql`analyze report_cases`.execute(db);
}

async function gateway(db: BenchDatabase): Promise<FastifyInstance> {
  const config = loadConfig(
    {
      LOG_LEVEL: 'silent',
      DATABASE_URL: db.url,
      RATE_LIMIT_PER_MINUTE: '100000000',
      PUBLIC_URL: 'http://bench.test',
      DATA_DIR: '/nonexistent',
    },
    {},
  );
  const app = await buildApp(config, { database: db, migrate: false, logger: false, beforeRoutes: async (i) => registerDemoProviders(i) });
  await app.ready();
  return app;
}

async function timed(
  app: FastifyInstance,
  url: string,
  bearer: string,
  runs: number,
): Promise<{ samples: number[]; body: Record<string, unknown> }> {
  const samples: number[] = [];
  let body: Record<string, unknown> = {};
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const res = await app.inject({ url, headers: { authorization: `Bearer ${bearer}` } });
    samples.push(performance.now() - t);
    if (res.statusCode !== 200) throw new Error(`${url} answered ${res.statusCode}: ${res.body}`);
    body = res.json();
  }
  return { samples, body };
}

async function reportLatency(db: BenchDatabase) {
  const started = performance.now();
  await loadCaseTrail(db.db, EVENTS);
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from report_cases`.execute(db.db);
  console.log(
    `(b) ${fmt(EVENTS)} events over 60 days (70% case materials) bulk-loaded through the trigger in ${fmt((performance.now() - started) / 1000, 1)} s; report_cases holds ${fmt(Number(rows[0]!.n))} cases`,
  );
  const app = await gateway(db);
  const { credentials } = await seedDemo(app);
  const auditor = credentials.find((c) => c.clientId === 'audit-office')!;
  const res = await app.inject({
    method: 'POST',
    url: '/v1/auth/token',
    payload: { grant_type: 'client_credentials', client_id: auditor.clientId, client_secret: auditor.clientSecret },
  });
  const bearer = (res.json() as { access_token: string }).access_token;
  await timed(app, '/v1/reports/once-only', bearer, 3); // warm-up
  const once = await timed(app, '/v1/reports/once-only', bearer, 40);
  const totals = once.body.totals as Record<string, number>;
  console.log(
    `    GET /v1/reports/once-only (last 30 days, ${fmt(totals.cases!)} cases): p50 ${fmt(percentile(once.samples, 50), 1)} ms, p95 ${fmt(percentile(once.samples, 95), 1)} ms (target p95 <= 1000 ms)`,
  );
  const providers = await timed(app, '/v1/reports/providers', bearer, 10);
  console.log(
    `    GET /v1/reports/providers (last 30 days, scans the events): p50 ${fmt(percentile(providers.samples, 50), 1)} ms, p95 ${fmt(percentile(providers.samples, 95), 1)} ms`,
  );
  await app.close();
}

runBenchSteps('onetrip reports benchmark', ADMIN_URL, ONLY, { a: triggerCost, b: reportLatency });
