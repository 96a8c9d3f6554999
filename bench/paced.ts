/**
 * An open-loop load at an even rate, for latency at a given load (bench/overhead.ts's half-rate p99).
 *
 * autocannon's `overallRate` is not that: each connection sends its share of a second's requests
 * back to back when the second starts and then waits for the next one, so "half the rate" is full
 * speed for part of every second, and the p99 it reports is close to the p99 at full load. Here
 * request k is due at start + k/rate and is sent on the first timer tick at or after that time (at
 * most `connections` in flight, as a client with that many keep-alive connections). Its latency is
 * counted from when it was due, not from when it went out, so a target that falls behind is charged
 * for the wait (no coordinated omission).
 */
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';

export interface PacedResult {
  /** Answers with status 200. */
  ok: number;
  /** Other statuses and failed requests. */
  bad: number;
  p50: number;
  p99: number;
  max: number;
}

export interface PacedLoad {
  url: string;
  path: string;
  body: string;
  headers: Record<string, string>;
  rate: number;
  seconds: number;
  connections: number;
}

export async function pacedLoad(load: PacedLoad): Promise<PacedResult> {
  const pool = new Pool(load.url, { connections: load.connections, pipelining: 1 });
  const headers = { 'content-type': 'application/json', ...load.headers };
  const total = Math.max(1, Math.round(load.rate * load.seconds));
  const latencies: number[] = [];
  let bad = 0;
  let sent = 0;
  const inFlight = new Set<Promise<void>>();
  const start = performance.now();

  function send(due: number): void {
    const done: Promise<void> = pool
      .request({ path: load.path, method: 'POST', headers, body: load.body })
      .then(
        async (res) => {
          await res.body.text();
          if (res.statusCode === 200) latencies.push(performance.now() - due);
          else bad += 1;
        },
        () => {
          bad += 1;
        },
      )
      .finally(() => inFlight.delete(done));
    inFlight.add(done);
  }

  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const elapsed = performance.now() - start;
      const due = Math.min(total, Math.floor((elapsed / 1000) * load.rate) + 1);
      for (; sent < due; sent++) send(start + (sent * 1000) / load.rate);
      if (sent >= total) {
        clearInterval(timer);
        resolve();
      }
    }, 1);
  });
  await Promise.all(inFlight);
  await pool.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return { ok: latencies.length, bad, p50: at(0.5), p99: at(0.99), max: latencies[latencies.length - 1] ?? NaN };
}
