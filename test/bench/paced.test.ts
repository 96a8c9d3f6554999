import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { ceiling } from '../../bench/overhead-machine.js';
import { pacedLoad } from '../../bench/paced.js';

let server: Server | null = null;
afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = null;
});

/** A server that records when each request arrived; with `stall`, the answer to request number `from` is held `ms`. */
async function recordingServer(stall?: { from: number; ms: number }) {
  const arrivals: number[] = [];
  let stalled = false;
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      arrivals.push(performance.now());
      const answer = () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      if (stall && !stalled && arrivals.length === stall.from) {
        stalled = true;
        setTimeout(answer, stall.ms);
      } else answer();
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, arrivals };
}

describe('bench: evenly paced load', () => {
  it('sends rate × seconds requests spread over the time, not in a burst at the start of each second', async () => {
    const { url, arrivals } = await recordingServer();
    const result = await pacedLoad({ url, path: '/v1/lookups', body: '{}', headers: {}, rate: 200, seconds: 1, connections: 8 });
    expect(result).toMatchObject({ ok: 200, bad: 0 });
    // Evenly paced, the middle request arrives about half a second in; sent in a burst when the
    // second starts (autocannon's overallRate), nearly all would arrive within its first tens of ms.
    // (A window count would be flaky on a busy machine, where a late timer tick sends a catch-up group.)
    const first = arrivals[0]!;
    expect(arrivals[arrivals.length >> 1]! - first).toBeGreaterThan(300);
    expect(arrivals[arrivals.length - 1]! - first).toBeGreaterThan(900);
  });

  it('counts latency from when a request was due, so a stalled target is charged for the queue behind it', async () => {
    // One connection: the answer held for 300 ms holds back every request due meanwhile.
    const { url } = await recordingServer({ from: 10, ms: 300 });
    const result = await pacedLoad({ url, path: '/', body: '{}', headers: {}, rate: 100, seconds: 1, connections: 1 });
    expect(result.ok).toBe(100);
    expect(result.max).toBeGreaterThanOrEqual(290);
    // ~30 requests were due during the stall, so well over 1 % of them waited: p99 shows it.
    expect(result.p99).toBeGreaterThan(200);
    expect(result.p50).toBeLessThan(result.p99);
  });

  it('counts answers other than 200 and refused connections as bad', async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(503).end());
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const result = await pacedLoad({
      url: `http://127.0.0.1:${port}`,
      path: '/',
      body: '{}',
      headers: {},
      rate: 50,
      seconds: 0.2,
      connections: 2,
    });
    expect(result).toMatchObject({ ok: 0, bad: 10 });
  });
});

describe('bench: the CPU per lookup the 0.5x target allows', () => {
  it('one event loop may spend 1 s / (half the bare rate); the machine limit counts what the rest of the machine spends', () => {
    const c = ceiling(4000, 800, 200);
    expect(c.oneLoopBudgetUs).toBeCloseTo(500);
    expect(c.machineLimit).toBeCloseTo((c.cpus * 1e6) / 1000);
    expect(c.machineBudgetUs).toBeCloseTo((c.cpus * 1e6) / 2000 - 200);
  });
});
