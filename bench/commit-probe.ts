/**
 * What one durable commit on the benchmark's PostgreSQL costs while the half-rate rounds run
 * (bench/overhead.ts), measured outside the gateway: every `intervalMs` a one-row INSERT committed
 * on its own connection with synchronous_commit on, its round trip timed. A lookup is answered only
 * after its audit event's commit, so when the disk under PostgreSQL stalls a flush, the gateway's
 * p99 carries the stall and the bare proxy's does not; this probe shows whether the stalls were
 * there, whatever the gateway did. At the default 50 commits/s it adds little to the load.
 */
import pg from 'pg';
import { percentile } from './audit-support.js';

/** A commit slower than this counts as a stall (about 20 times a commit on an idle local disk). */
export const STALL_MS = 20;

export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  max: number;
  /** Samples of STALL_MS or more. */
  stalls: number;
}

export function summarise(samples: readonly number[]): LatencySummary {
  if (samples.length === 0) return { count: 0, p50: NaN, p99: NaN, max: NaN, stalls: 0 };
  return {
    count: samples.length,
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    max: Math.max(...samples),
    stalls: samples.filter((ms) => ms >= STALL_MS).length,
  };
}

export interface CommitProbe {
  /** Commit latencies (ms) since the probe started or since the last `take`, and starts a new list. */
  take(): number[];
  /** Why the probe stopped on its own (a lost connection), or null. */
  readonly failure: unknown;
  stop(): Promise<void>;
}

export async function startCommitProbe(databaseUrl: string, intervalMs = 20): Promise<CommitProbe> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  await client.query('SET synchronous_commit = on');
  await client.query('CREATE TABLE IF NOT EXISTS bench_commit_probe (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())');
  let samples: number[] = [];
  let stopped = false;
  let failure: unknown = null;
  const loop = (async () => {
    while (!stopped) {
      const started = performance.now();
      // One statement outside a transaction block: its own commit, flushed before the answer.
      await client.query('INSERT INTO bench_commit_probe DEFAULT VALUES');
      samples.push(performance.now() - started);
      const wait = intervalMs - (performance.now() - started);
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
  })().catch((err: unknown) => {
    failure = err;
  });
  return {
    take() {
      const taken = samples;
      samples = [];
      return taken;
    },
    get failure() {
      return failure;
    },
    async stop() {
      stopped = true;
      await loop;
      await client.end().catch(() => {});
    },
  };
}
