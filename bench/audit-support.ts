/**
 * Helpers of bench/audit.ts: a throwaway database, the per-request-commit baseline, the "audit off"
 * writer stub and the synthetic million-event trail.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { chainEvents } from '../src/audit/chain.js';
import type { AuditEvent, AuditEventInput } from '../src/audit/event.js';
import { ensureMonthPartition, insertEvents, lockChainHead } from '../src/audit/repository.js';
import type { AuditSink } from '../src/audit/writer.js';
import type { DatabaseHandle, DB } from '../src/db/index.js';
import { generateResidentId, maskSubjectId, subjectHmac } from '../src/subjects/index.js';
import { createThrowawayDatabase } from '../test/helpers/db.js';

export interface BenchDatabase extends DatabaseHandle {
  url: string;
  dispose(): Promise<void>;
}

/** A fresh, migrated database next to `adminUrl`, dropped by dispose(). */
export async function createBenchDatabase(adminUrl: string, poolSize = 10): Promise<BenchDatabase> {
  return createThrowawayDatabase(adminUrl, { prefix: 'onetrip_bench_', poolSize });
}

export function syntheticInput(i: number): AuditEventInput {
  return {
    id: randomUUID(),
    time: new Date().toISOString(),
    requestId: `bench-${i}`,
    consumer: 'housing-fund',
    clientId: 'housing-fund-window',
    officer: 'window-07',
    action: 'lookup',
    type: 'household-registration',
    provider: 'public-security',
    subjectKind: 'person',
    subjectHmac: 'd'.repeat(64),
    subjectMasked: '110*************2X',
    purpose: 'housing-fund-withdrawal',
    caseId: `HF-${i}`,
    fields: ['name', 'gender', 'address'],
    outcome: 'ok',
    errorCode: null,
    latencyMs: 5,
    recordDigest: 'x'.repeat(43),
    detail: null,
  };
}

/**
 * The baseline the group commit is measured against: each request its own transaction that locks
 * the chain head, chains one event, inserts it, moves the head and commits (synchronous_commit on).
 */
export async function appendOne(db: DB, input: AuditEventInput): Promise<AuditEvent> {
  return db.transaction().execute(async (trx) => {
    await sql`set local synchronous_commit = on`.execute(trx);
    const head = await lockChainHead(trx);
    await ensureMonthPartition(trx, new Date(input.time));
    const [event] = chainEvents(head, [input]);
    await insertEvents(trx, [event!], { seq: event!.seq, hash: event!.hash });
    return event!;
  });
}

/** "Audit off": resolves at once, writes nothing (only for measuring what the audit trail costs). */
export function auditOffSink(): AuditSink {
  let seq = 0;
  return {
    append: async (input) => ({ ...input, seq: ++seq, prevHash: '', hash: '' }),
    pending: 0,
    committing: 0,
    drain: async () => {},
    close: async () => {},
    onFlush: () => {},
  };
}

/** Runs `workers` concurrent loops of `perWorker` sequential calls; returns calls per second. */
export async function throughput(workers: number, perWorker: number, call: (i: number) => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async (_v, w) => {
      for (let k = 0; k < perWorker; k++) await call(w * perWorker + k);
    }),
  );
  return (workers * perWorker) / ((performance.now() - started) / 1000);
}

export function percentile(samples: readonly number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Resident ids of `count` synthetic people, with the HMAC and masked form the gateway would store. */
export function syntheticSubjects(count: number, hmacKey: string): Array<{ id: string; hmac: string; masked: string }> {
  return Array.from({ length: count }, (_v, n) => {
    const day = new Date(Date.UTC(1950, 0, 1) + Math.floor(n / 1000) * 86_400_000).toISOString().slice(0, 10).replace(/-/g, '');
    const subject = { kind: 'person' as const, id: generateResidentId({ region: '110105', birthDate: day, sequence: n % 1000 }) };
    return { id: subject.id, hmac: subjectHmac(hmacKey, subject), masked: maskSubjectId(subject) };
  });
}

/**
 * Bulk-loads `total` events spread over the past 12 months (one partition each) in SQL with
 * generate_series, after the current head. They are NOT chained (prev_hash/hash are placeholders):
 * the search benchmark reads them, verify would reject them. The head is moved past them so the
 * gateway's own writes keep a unique seq.
 */
export async function loadSyntheticTrail(db: DB, total: number, subjects: Array<{ hmac: string; masked: string }>): Promise<void> {
  await sql`create table bench_subjects (n integer primary key, hmac text not null, masked text not null)`.execute(db);
  for (let i = 0; i < subjects.length; i += 1000) {
    const rows = subjects.slice(i, i + 1000).map((s, k) => sql`(${i + k}, ${s.hmac}, ${s.masked})`);
    await sql`insert into bench_subjects (n, hmac, masked) values ${sql.join(rows)}`.execute(db);
  }
  const now = Date.now();
  const start = new Date(now - 365 * 86_400_000);
  for (let m = 0; m <= 12; m++) await ensureMonthPartition(db, new Date(start.getTime() + m * 30.5 * 86_400_000));
  await ensureMonthPartition(db, new Date(now));
  const base = (await lockChainHead(db)).seq;
  const step = (now - start.getTime()) / total / 1000; // seconds between synthetic events
  const chunk = 250_000;
  for (let from = 1; from <= total; from += chunk) {
    const to = Math.min(total, from + chunk - 1);
    await sql`
      insert into audit_events (seq, id, time, request_id, consumer, client_id, officer, action, type, provider, subject_kind,
        subject_hmac, subject_masked, purpose, case_id, fields, outcome, error_code, latency_ms, record_digest, detail, prev_hash, hash)
      select ${base}::bigint + g, gen_random_uuid(), ${start}::timestamptz + make_interval(secs => g * ${step}::float8), 'bench-' || g,
        (array['housing-fund','civil-affairs','taxation','human-resources','market-regulation'])[1 + g % 5], 'bench-client', 'officer-' || (g % 300),
        (array['lookup','lookup','lookup','batch.item','verification','case.material','token.issue'])[1 + g % 7], 'household-registration',
        'public-security', 'person', b.hmac, b.masked, 'housing-fund-withdrawal', 'BENCH-' || (g / 3), '["name"]'::jsonb,
        case when g % 10 = 0 then 'denied' else 'ok' end, null, (g % 97)::int, null, 'null'::jsonb, repeat('0', 64), md5(g::text) || md5(g::text)
      from generate_series(${from}::bigint, ${to}::bigint) g join bench_subjects b on b.n = g % ${subjects.length}`.execute(db);
  }
  await sql`update audit_chain_head set seq = ${base + total}, hash = repeat('0', 64) where id = 1`.execute(db);
  await sql`analyze audit_events`.execute(db);
}

/**
 * Runs the selected steps of a benchmark, each on a throwaway database next to `adminUrl`, and
 * exits 1 when one fails.
 */
export function runBenchSteps(
  title: string,
  adminUrl: string,
  only: { includes(step: string): boolean },
  steps: Record<string, (db: BenchDatabase) => Promise<void>>,
): void {
  const run = async () => {
    console.log(`${title} against ${new URL(adminUrl).host} (throwaway databases)`);
    for (const step of Object.entries(steps)
      .filter(([k]) => only.includes(k))
      .map(([, v]) => v)) {
      const db = await createBenchDatabase(adminUrl);
      try {
        await step(db);
      } finally {
        await db.dispose();
      }
    }
  };
  run().catch((err) => {
    console.error('benchmark failed:', err);
    process.exit(1);
  });
}
