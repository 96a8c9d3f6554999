/**
 * The processes bench/overhead.ts loads, one per child process so each one's CPU is its own:
 *   stub <recordJson>          a provider department (node:http, the provider protocol) on a port in 4100-4199
 *   bare <stubUrl>             Fastify 5 + an undici Pool forwarding the lookup body to the stub
 *   gateway <stubUrl> <dbUrl> [audit-off | redis=<url>]   onetrip on PostgreSQL, its types' http adapters
 *                              pointing at the stub (audit-off: a writer stub; redis=: quota counters in Redis)
 *   floor <stubUrl> <dbUrl> [without=audit|proof|both]   the least any gateway keeping the contract's
 *                              guarantees does per lookup (bench/overhead-floor.ts), or that without one of them
 * Each child talks to the parent over IPC: it sends {ready, port, ...} once listening and answers
 * {cmd: 'cpu'} (process.cpuUsage, its main thread's CPU time on Linux, RSS, heap used), {cmd: 'gc'} (the same after a full collection)
 * and {cmd: 'profile-start'} / {cmd: 'profile-stop'} (a V8 CPU profile taken with node:inspector, so
 * the profiler runs only while the parent asks for it); a gateway also answers {cmd: 'flushes', more}:
 * the durations (ms) of its audit group commits since the last such command, and goes on recording
 * them only when `more` is true.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { Session } from 'node:inspector/promises';
import Fastify from 'fastify';
import { Pool } from 'undici';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { seedDemo } from '../src/demo/seed.js';
import { auditOffSink } from './audit-support.js';
import { createDatabase } from '../src/db/index.js';
import { startFloor } from './overhead-floor.js';

export type ChildMessage =
  | { ready: true; port: number; token?: string }
  | { cpu: NodeJS.CpuUsage; loop: number | null; rss: number; heapUsed: number; answered200: number }
  | { profiling: true }
  | { profile: unknown; cpu: NodeJS.CpuUsage; loop: number | null }
  | { flushes: number[] };

type ParentMessage =
  { cmd: 'cpu' } | { cmd: 'gc' } | { cmd: 'profile-start' } | { cmd: 'profile-stop' } | { cmd: 'flushes'; more: boolean };

const LOOKUP_CLIENT = 'housing-fund-window';

const send = (m: ChildMessage) => process.send!(m);
/** Lookups the gateway answered 200, counted by the gateway itself (autocannon drops answers that arrive after its duration). */
let answered200 = 0;
/** How long each audit group commit took (ms), since the parent last asked; null: not recording. */
let flushes: number[] | null = null;

function answerParent(): void {
  let session: Session | null = null;
  let cpuAtStart = process.cpuUsage();
  let loopAtStart = loopMicros();
  process.on('message', (m: ParentMessage) => {
    void (async () => {
      if (m.cmd === 'gc') {
        // A full collection through the inspector (no --expose-gc, so the gateway runs with its own flags):
        // what the process still holds, apart from where in its collection cycle a sample happens to land.
        const gc = new Session();
        gc.connect();
        await gc.post('HeapProfiler.collectGarbage');
        gc.disconnect();
      }
      if (m.cmd === 'cpu' || m.cmd === 'gc') {
        const { rss, heapUsed } = process.memoryUsage();
        send({ cpu: process.cpuUsage(), loop: loopMicros(), rss, heapUsed, answered200 });
      }
      if (m.cmd === 'flushes') {
        send({ flushes: flushes ?? [] });
        flushes = m.more ? [] : null;
      }
      if (m.cmd === 'profile-start') {
        session = new Session();
        session.connect();
        await session.post('Profiler.enable');
        await session.post('Profiler.setSamplingInterval', { interval: 250 });
        await session.post('Profiler.start');
        cpuAtStart = process.cpuUsage();
        loopAtStart = loopMicros();
        send({ profiling: true });
      }
      if (m.cmd === 'profile-stop' && session) {
        const cpu = process.cpuUsage(cpuAtStart);
        const loopNow = loopMicros();
        const loop = loopNow === null || loopAtStart === null ? null : loopNow - loopAtStart;
        const { profile } = await session.post('Profiler.stop');
        session.disconnect();
        session = null;
        send({ profile, cpu, loop });
      }
    })();
  });
  process.on('disconnect', () => process.exit(0));
}

/** Clock ticks per second of /proc's CPU times (USER_HZ: 100 on every Linux this runs on). */
const CLOCK_TICKS = 100;

/**
 * CPU time (µs) of this process's main thread, the one its event loop runs on, from Linux's
 * /proc/self/task/<pid>/stat (10 ms resolution); null elsewhere. process.cpuUsage counts every
 * thread: V8's GC helpers and libuv's pool as well.
 */
function loopMicros(): number | null {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS) * 1e6;
  } catch {
    return null;
  }
}

/** Listens on the first free port of 4100-4199 (the adapter port range ADAPTER_ALLOWED_PORTS allows by default). */
async function listenInAdapterRange(listen: (port: number) => Promise<void>): Promise<number> {
  const first = 4100 + Math.floor(Math.random() * 100);
  for (let k = 0; k < 100; k++) {
    const port = 4100 + ((first - 4100 + k) % 100);
    try {
      await listen(port);
      return port;
    } catch (err) {
      if ((err as { code?: string }).code !== 'EADDRINUSE') throw err;
    }
  }
  throw new Error('no free port in 4100-4199');
}

async function stub(recordJson: string) {
  // The answer is fixed; the body is still read to the end, as a provider must.
  const answer = Buffer.from(`{"found":true,"record":${recordJson}}`);
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': answer.length });
      res.end(answer);
    });
  });
  server.keepAliveTimeout = 60_000;
  const port = await listenInAdapterRange(
    (p) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(p, '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      }),
  );
  send({ ready: true, port });
}

async function bare(stubUrl: string) {
  const pool = new Pool(stubUrl, { connections: 32, pipelining: 1 });
  const app = Fastify({ logger: false });
  app.post('/v1/lookups', async (request, reply) => {
    const res = await pool.request({
      path: '/lookup',
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(request.body),
    });
    const text = await res.body.text();
    return reply.code(res.statusCode).type('application/json').send(text);
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  send({ ready: true, port: (app.server.address() as { port: number }).port });
}

async function gateway(stubUrl: string, dbUrl: string, mode: string | undefined) {
  const auditOff = mode === 'audit-off';
  const config = loadConfig({
    DATABASE_URL: dbUrl,
    ...(mode?.startsWith('redis=') ? { REDIS_URL: mode.slice('redis='.length) } : {}),
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
    RATE_LIMIT_PER_MINUTE: '1000000000',
    TOKEN_TTL_SECONDS: '3600',
    PUBLIC_URL: 'http://bench.test',
    DATA_DIR: '/nonexistent',
    ADAPTER_ALLOWED_HOSTS: '127.0.0.1',
    ADAPTER_ALLOWED_PORTS: '4100-4199',
    AUDIT_HMAC_KEY: 'bench-overhead-hmac-key-0123456789abcdef',
  });
  const app = await buildApp(config, {
    migrate: false,
    beforeRoutes: async (instance) => {
      // The "audit off" build: same app, a writer stub that resolves at once (as bench/audit.ts).
      if (auditOff) instance.audit.writer = auditOffSink();
      // Successful commits only: what a lookup waited for before it could be answered.
      instance.audit.writer.onFlush(({ ok, ms }) => {
        if (ok) flushes?.push(ms);
      });
      // Counted as the answer is sent (onResponse is skipped when the client has already gone).
      instance.addHook('onSend', async (request, reply) => {
        if (reply.statusCode === 200 && request.routeOptions.url === '/v1/lookups') answered200 += 1;
      });
    },
  });
  await app.ready();
  const { credentials } = await seedDemo(app, { adapterFor: () => ({ kind: 'http', url: `${stubUrl}/lookup`, timeoutMs: 3000 }) });
  const c = credentials.find((x) => x.clientId === LOOKUP_CLIENT)!;
  const res = await app.inject({
    method: 'POST',
    url: '/v1/auth/token',
    payload: { grant_type: 'client_credentials', client_id: c.clientId, client_secret: c.clientSecret },
  });
  const token = (res.json() as { access_token: string }).access_token;
  await app.listen({ port: 0, host: '127.0.0.1' });
  send({ ready: true, port: (app.server.address() as { port: number }).port, token });
}

async function floor(stubUrl: string, dbUrl: string, mode: string | undefined) {
  const { db } = await createDatabase({ url: dbUrl, pgliteDir: null, poolSize: 4 });
  const without = mode?.startsWith('without=') ? mode.slice('without='.length) : undefined;
  if (without !== undefined && without !== 'audit' && without !== 'proof' && without !== 'both') throw new Error(`floor: unknown ${mode}`);
  const { port, token } = await startFloor(stubUrl, db, { answered: () => (answered200 += 1), without });
  send({ ready: true, port, token });
}

const [role, a, b, c] = process.argv.slice(2);
answerParent();
const started =
  role === 'stub'
    ? stub(a!)
    : role === 'bare'
      ? bare(a!)
      : role === 'gateway'
        ? gateway(a!, b!, c)
        : role === 'floor'
          ? floor(a!, b!, c)
          : Promise.reject(new Error(`unknown role ${role}`));
started.catch((err) => {
  console.error(`bench ${role} failed:`, err);
  process.exit(1);
});
