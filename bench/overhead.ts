/**
 * `npm run bench:overhead` — what a lookup through onetrip costs next to a plain proxy hop.
 *
 * One run loads, with autocannon (BENCH_CONNECTIONS, default 32, keep-alive), the same lookup body sent to:
 *   a stub provider directly; a bare Fastify 5 + undici Pool proxy to it; nginx to it (when `nginx`
 *   is installed); and the gateway on PostgreSQL (audit on, then audit off) whose http adapters
 *   point at the stub, and the floor (bench/overhead-floor.ts: only what the contract's guarantees cost,
 *   to show whether a ratio is within reach on this machine at all). Every target is its own child
 *   process, so its CPU time is its own.
 * Prints req/s, p50/p99, CPU per request, the ratios gateway/bare, gateway/nginx and audit on/off,
 * p99 at half the gateway's rate under an evenly paced load (bench/paced.ts; median of BENCH_ROUNDS
 * interleaved rounds) with the durable commits under those rounds (the gateway's audit group commits,
 * and a probe's lone commits outside the gateway, bench/commit-probe.ts), where the rest of the
 * machine's CPU went (bench/overhead-machine.ts) and the gateway's split into its event loop and its
 * other threads, a check that every 200 has its committed audit event, and the gateway's CPU budget
 * per lookup by stage (perf's cpu-clock samples of its event loop's thread where perf works, else a V8
 * profile of that thread; either scaled to that thread's CPU time), with perf the bare proxy's budget
 * beside it, profiled the same way, and the difference.
 *
 * Env: BENCH_DURATION seconds per load (default 10; BENCH_DURATION=2 BENCH_ROUNDS=1 gives a run under
 * a minute), BENCH_ROUNDS interleaved rounds, best kept (default 3), BENCH_WARMUP (default 2),
 * BENCH_HALF_WARMUP (paced warm-up before the half-rate rounds, default 15), BENCH_CONNECTIONS (32),
 * BENCH_SOAK_SECONDS (0; `-- --soak` = 300: RSS and heap after a full collection, start against end),
 * BENCH_LOG_LEVEL (gateway log level, default info as in production; its stdout is discarded),
 * BENCH_COMPARE (a directory holding another onetrip version with these bench files and its
 * node_modules: its gateway is loaded too, in the same run, at full load and at half rate; BENCH_COMPARE_FLAGS: node flags for that
 * gateway only), DATABASE_URL / TEST_DATABASE_URL (a server to create the throwaway database next to;
 * default postgres://postgres@127.0.0.1:5432/postgres), REDIS_URL (when set, one more gateway keeps its
 * quotas there, as replicas do, to price the shared counters), BENCH_PROFILER (`v8`: the stage budget
 * from V8's profiler even where perf works), BENCH_PROFILE_OUT (a file for the profile: perf's samples
 * as collapsed stacks, the input of flame graph tools, or V8's .cpuprofile), BENCH_FLOOR_PARTS (1: the
 * floor also without its audit event, without its proof and without either).
 */
import { spawn, execFileSync, fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { sql } from 'kysely';
import { createDemoDataset } from '../src/demo/data.js';
import { createBenchDatabase, percentile } from './audit-support.js';
import { startCommitProbe, summarise, STALL_MS, type LatencySummary } from './commit-probe.js';
import { ceiling, isLocalHost, machineUse, sampleMachine, type MachineUse } from './overhead-machine.js';
import { collapsedStacks, perfDir, perfSamples, perfUnusable, PERF_NODE_FLAGS } from './overhead-perf.js';
import { budgetFromPerf, budgetPerLookup, type CpuProfile } from './overhead-stages.js';
import { pacedLoad, type PacedResult } from './paced.js';
import type { ChildMessage } from './overhead-targets.js';

const ADMIN_URL = process.env.DATABASE_URL || process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2);
/**
 * Seconds of paced warm-up before the half-rate rounds. After a full-load phase the gateway takes
 * 15–20 s of load to settle (paced 700/s rounds on a 2-core machine: p50 987 → 16 → 5 → 3.7 ms), so
 * a short warm-up charges that settling to the first round.
 */
const HALF_WARMUP = Number(process.env.BENCH_HALF_WARMUP ?? 15);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const SOAK = process.argv.includes('--soak') ? 300 : Number(process.env.BENCH_SOAK_SECONDS ?? 0);
const COMPARE = process.env.BENCH_COMPARE ? path.resolve(process.env.BENCH_COMPARE) : null;
const REDIS_URL = process.env.REDIS_URL || null;
/** Also load the floor without its audit event, without its proof and without either (bench/overhead-floor.ts). */
const FLOOR_PARTS = ['1', 'true', 'yes'].includes(process.env.BENCH_FLOOR_PARTS ?? '');
/** The stage budget's profiler: perf when it works here (bench/overhead-perf.ts), else V8's; `v8` asks for V8's. */
const PROFILER = process.env.BENCH_PROFILER === 'v8' ? 'v8' : 'perf';
/**
 * The node flags `npm start` gives the gateway (package.json), so the bench loads the gateway as
 * it runs in production; the stub and the bare proxy run with node's defaults.
 */
const START_FLAGS = startFlags(fileURLToPath(new URL('..', import.meta.url)));
/** Node flags for the BENCH_COMPARE gateway only (e.g. a V8 heap setting weighed against the default). */
const COMPARE_FLAGS = (process.env.BENCH_COMPARE_FLAGS ?? '').split(' ').filter(Boolean);
const TARGETS = fileURLToPath(new URL('./overhead-targets.ts', import.meta.url));
const LOOKUP_TYPE = 'household-registration';

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** The node flags of `npm start` in the checkout at `dir`. */
function startFlags(dir: string): string[] {
  const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { scripts: { start: string } };
  const words = pkg.scripts.start.split(/\s+/);
  // `node <flags> --import tsx src/server.ts`: the flags between node and --import.
  return words[0] === 'node' ? words.slice(1, words.indexOf('--import')) : [];
}

/** One target process and its IPC (each command gets one answer, in order). */
class Target {
  private waiting: Array<(m: ChildMessage) => void> = [];
  private constructor(readonly proc: ChildProcess) {
    proc.on('message', (m: ChildMessage) => this.waiting.shift()?.(m));
  }

  static async start(
    args: string[],
    targets = TARGETS,
    nodeFlags: string[] = [],
    cwd?: string,
  ): Promise<{ target: Target; port: number; token?: string }> {
    const flags = args[0] === 'gateway' && targets === TARGETS ? [...START_FLAGS, ...nodeFlags] : nodeFlags;
    // In another working directory, tsx is named by its path: a bare `tsx` resolves from the cwd.
    const tsx = cwd ? import.meta.resolve('tsx') : 'tsx';
    const proc = fork(targets, args, {
      execArgv: [...flags, '--import', tsx],
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      ...(cwd ? { cwd } : {}),
    });
    const target = new Target(proc);
    const ready = await new Promise<ChildMessage>((resolve, reject) => {
      target.waiting.push(resolve);
      proc.once('exit', (code) => reject(new Error(`${args[0]} exited with ${code} before it was ready`)));
    });
    if (!('ready' in ready)) throw new Error(`${args[0]}: unexpected first message`);
    return { target, port: ready.port, ...(ready.token ? { token: ready.token } : {}) };
  }

  ask(cmd: 'cpu' | 'gc' | 'profile-start' | 'profile-stop' | 'flushes', extra: { more?: boolean } = {}): Promise<ChildMessage> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.proc.send({ cmd, ...extra });
    });
  }

  /** A gateway's audit group commits (ms) since the last call; with `more`, it keeps recording. */
  async flushes(more: boolean): Promise<number[]> {
    const m = await this.ask('flushes', { more });
    return 'flushes' in m ? m.flushes : [];
  }

  async cpuMicros(): Promise<number> {
    return (await this.cpu()).process;
  }

  /** CPU time (µs) of the whole process and of its main thread (null off Linux, or from a BENCH_COMPARE version without it). */
  async cpu(): Promise<{ process: number; loop: number | null }> {
    const m = await this.ask('cpu');
    return 'cpu' in m ? { process: m.cpu.user + m.cpu.system, loop: m.loop ?? null } : { process: 0, loop: null };
  }

  async rss(): Promise<number> {
    const m = await this.ask('cpu');
    return 'rss' in m ? m.rss : 0;
  }

  /** RSS and heap used after a full collection. */
  async memoryAfterGc(): Promise<{ rss: number; heapUsed: number }> {
    const m = await this.ask('gc');
    return 'rss' in m ? { rss: m.rss, heapUsed: m.heapUsed } : { rss: 0, heapUsed: 0 };
  }

  async answered200(): Promise<number> {
    const m = await this.ask('cpu');
    return 'answered200' in m ? m.answered200 : 0;
  }

  /** Lookups answered 200 once the requests still in flight when the load stopped are done. */
  async settledAnswered200(): Promise<number> {
    let last = await this.answered200();
    for (;;) {
      await new Promise((r) => setTimeout(r, 300));
      const now = await this.answered200();
      if (now === last) return now;
      last = now;
    }
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    const exited = new Promise((resolve) => this.proc.once('exit', resolve));
    this.proc.kill('SIGTERM');
    await exited;
  }
}

interface Load {
  rps: number;
  p50: number;
  p99: number;
  ok: number;
  bad: number;
  cpuPerRequestUs: number | null;
  /** Of that, the main thread's (the event loop's); the rest ran on other threads (V8's GC helpers, libuv's pool). */
  loopPerRequestUs: number | null;
  /** The rest of the machine meanwhile (stub, PostgreSQL, load generator, idle); null off Linux or untimed. */
  machine: (MachineUse & { stubUs: number }) | null;
}

/** Measured alongside every timed load: the stub every target calls, and PostgreSQL when local. */
const companions: { stub: Target | null; localPostgres: boolean } = { stub: null, localPostgres: false };

async function load(port: number, body: string, seconds: number, headers: Record<string, string> = {}, target?: Target): Promise<Load> {
  const cpuBefore = target ? await target.cpu() : null;
  const stubBefore = target && companions.stub ? await companions.stub.cpuMicros() : 0;
  const machineBefore = target ? sampleMachine(companions.localPostgres) : null;
  const result = await autocannon({
    url: `http://127.0.0.1:${port}/v1/lookups`,
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
    connections: CONNECTIONS,
    duration: seconds,
  });
  const machineAfter = target ? sampleMachine(companions.localPostgres) : null;
  const cpuAfter = target ? await target.cpu() : null;
  const stubAfter = target && companions.stub ? await companions.stub.cpuMicros() : 0;
  const ok = result['2xx'];
  const use = machineUse(machineBefore, machineAfter, ok);
  return {
    rps: ok / seconds,
    p50: result.latency.p50,
    p99: result.latency.p99,
    ok,
    bad: result.non2xx + result.errors + result.timeouts,
    cpuPerRequestUs: cpuBefore && cpuAfter ? (cpuAfter.process - cpuBefore.process) / Math.max(1, ok) : null,
    loopPerRequestUs: cpuBefore?.loop != null && cpuAfter?.loop != null ? (cpuAfter.loop - cpuBefore.loop) / Math.max(1, ok) : null,
    // The stub's own row has the stub as its target: its CPU is then not a companion's.
    machine: use && { ...use, stubUs: target === companions.stub ? 0 : (stubAfter - stubBefore) / Math.max(1, ok) },
  };
}

function row(name: string, l: Load): string {
  const cpu = l.cpuPerRequestUs === null ? '—' : fmt(l.cpuPerRequestUs);
  return `| ${name.padEnd(44)} | ${fmt(l.rps).padStart(7)} | ${fmt(l.p50).padStart(4)} ms | ${fmt(l.p99).padStart(4)} ms | ${cpu.padStart(6)} |${l.bad ? ` ${l.bad} non-2xx/errors` : ''}`;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** nginx with a temporary config on a loopback port, or null (and why) when it is not installed. */
async function startNginx(stubPort: number): Promise<{ port: number; stop(): Promise<void> } | string> {
  let bin: string;
  try {
    bin = execFileSync('sh', ['-c', 'command -v nginx || ls /usr/sbin/nginx'], { encoding: 'utf8' }).trim().split('\n')[0]!;
  } catch {
    return 'nginx is not installed (apt-get install nginx to include it)';
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'onetrip-nginx-'));
  const port = await freePort();
  const conf = path.join(dir, 'nginx.conf');
  // One worker, like the one-process Node targets; upstream keep-alive, as the gateway's pool does.
  writeFileSync(
    conf,
    `worker_processes 1; daemon off; pid ${dir}/nginx.pid; error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  upstream stub { server 127.0.0.1:${stubPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location / { proxy_pass http://stub/lookup; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
`,
  );
  const proc = spawn(bin, ['-p', dir, '-c', conf, '-e', `${dir}/error.log`], { stdio: ['ignore', 'ignore', 'inherit'] });
  for (let i = 0; i < 50; i++) {
    const up = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: '{}' }).then(
      () => true,
      () => false,
    );
    if (up) break;
    if (proc.exitCode !== null) return `nginx exited with ${proc.exitCode}`;
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    stop: async () => {
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      proc.kill('SIGQUIT');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function main() {
  const dataset = createDemoDataset();
  const person = dataset.people.find((p) => p.holds.includes(LOOKUP_TYPE))!;
  const body = JSON.stringify({
    type: LOOKUP_TYPE,
    subject: { kind: 'person', id: person.id },
    purpose: 'housing-fund-withdrawal',
    caseId: 'HF-2026-000001',
  });
  const db = await createBenchDatabase(ADMIN_URL, 4);
  console.log(
    `onetrip overhead benchmark: ${CONNECTIONS} connections, ${DURATION} s per load after ${WARMUP} s warm-up, PostgreSQL ${new URL(ADMIN_URL).host} (throwaway database)`,
  );
  const started: Array<{ stop(): Promise<void> }> = [];
  try {
    const stub = await Target.start(['stub', JSON.stringify(dataset.record(LOOKUP_TYPE, person.id))]);
    started.push(stub.target);
    const stubUrl = `http://127.0.0.1:${stub.port}`;
    companions.stub = stub.target;
    companions.localPostgres = isLocalHost(ADMIN_URL);
    const rows: string[] = [];

    // Every target is started first, then loaded in ROUNDS interleaved rounds and judged by its best
    // round: other load on the machine only ever slows a round down (or inflates its CPU time).
    interface Entry {
      name: string;
      port: number;
      headers: Record<string, string>;
      target?: Target;
      runs: Load[];
    }
    const entries: Entry[] = [{ name: 'stub provider directly', port: stub.port, headers: {}, target: stub.target, runs: [] }];
    const bare = await Target.start(['bare', stubUrl]);
    started.push(bare.target);
    const bareEntry: Entry = { name: 'bare Fastify 5 + undici Pool proxy', port: bare.port, headers: {}, target: bare.target, runs: [] };
    entries.push(bareEntry);
    const nginx = await startNginx(stub.port);
    let nginxEntry: Entry | null = null;
    if (typeof nginx === 'string') rows.push(`| nginx: skipped — ${nginx}`);
    else {
      started.push(nginx);
      nginxEntry = { name: 'nginx 1.22 proxy (1 worker)', port: nginx.port, headers: {}, runs: [] };
      entries.push(nginxEntry);
    }
    /** Starts a target that takes a Bearer token (a gateway or the floor) and adds it to the rounds. */
    const startEntry = async (name: string, args: string[], targets?: string, flags?: string[]): Promise<Entry & { target: Target }> => {
      const t = await Target.start(args, targets, flags);
      started.push(t.target);
      const entry = { name, port: t.port, headers: { authorization: `Bearer ${t.token}` }, target: t.target, runs: [] };
      entries.push(entry);
      return entry;
    };
    const gw = await startEntry('onetrip (http adapter, PostgreSQL, audit, proof)', ['gateway', stubUrl, db.url]);
    const auth = gw.headers;
    const offEntry = await startEntry('onetrip, audit off (writer stub)', ['gateway', stubUrl, db.url, 'audit-off']);
    // REDIS_URL: the same gateway with its quota counters in Redis, as every replica of a scaled-out
    // deployment keeps them (docker-compose.yml), so what the shared counters cost is shown.
    const redisEntry = REDIS_URL
      ? await startEntry('onetrip, quotas in Redis (REDIS_URL)', ['gateway', stubUrl, db.url, `redis=${REDIS_URL}`])
      : null;
    // The floor (bench/overhead-floor.ts): only what the contract's guarantees cost, so the run says
    // whether a ratio is within reach on this machine at all, whatever onetrip itself does.
    const floorEntry = await startEntry("floor: the contract's guarantees alone", ['floor', stubUrl, db.url]);
    // BENCH_FLOOR_PARTS: the floor without its audit event, without its proof, without either, so
    // each guarantee's price on this machine is shown on its own.
    const floorParts: Entry[] = [];
    /** The one of them that still writes its events (counted in "every 200 has its event"). */
    let floorWithEvents: (Entry & { target: Target }) | null = null;
    if (FLOOR_PARTS) {
      const parts = {
        audit: 'floor without its audit event',
        proof: 'floor without its proof',
        both: 'floor without audit event and proof',
      };
      for (const [without, name] of Object.entries(parts)) {
        const entry = await startEntry(name, ['floor', stubUrl, db.url, `without=${without}`]);
        floorParts.push(entry);
        if (without === 'proof') floorWithEvents = entry;
      }
    }
    // BENCH_COMPARE=<a checkout of another onetrip version with these bench files>: its gateway, same run.
    const compareEntry = COMPARE
      ? await startEntry(
          `onetrip at ${path.basename(COMPARE)} (BENCH_COMPARE)`,
          ['gateway', stubUrl, db.url],
          path.join(COMPARE, 'bench/overhead-targets.ts'),
          // That version as its own `npm start` runs it, then BENCH_COMPARE_FLAGS.
          [...startFlags(COMPARE), ...COMPARE_FLAGS],
        )
      : null;
    for (const e of entries) await load(e.port, body, WARMUP, e.headers);
    for (let round = 0; round < ROUNDS; round++) {
      for (const e of entries) e.runs.push(await load(e.port, body, DURATION, e.headers, e.target));
    }
    const best = (e: Entry): Load => {
      const top = e.runs.reduce((a, b) => (b.rps > a.rps ? b : a));
      const least = (pick: (r: Load) => number | null) => {
        const values = e.runs.map(pick).filter((c): c is number => c !== null);
        return values.length ? Math.min(...values) : null;
      };
      return { ...top, cpuPerRequestUs: least((r) => r.cpuPerRequestUs), loopPerRequestUs: least((r) => r.loopPerRequestUs) };
    };
    for (const e of entries) rows.push(row(e.name, best(e)));
    // Round i of every target ran within the same minute: the median of the per-round ratios
    // follows the machine's drift, which the best rounds (taken from different rounds) do not.
    const paired = (a: Entry, b: Entry): string => {
      const ratios = a.runs.map((r, i) => r.rps / Math.max(1, b.runs[i]!.rps));
      return `median of the ${ratios.length} per-round ratios ${fmt(percentile(ratios, 50), 2)} (${ratios.map((x) => fmt(x, 2)).join(', ')})`;
    };
    const bareLoad = best(bareEntry);
    const nginxLoad = nginxEntry ? best(nginxEntry) : null;
    const on = best(gw);
    const offLoad = best(offEntry);
    const compared = compareEntry ? best(compareEntry) : null;
    const floorLoad = best(floorEntry);
    const sharedQuotas = redisEntry ? best(redisEntry) : null;

    // Half the gateway's rate, for the gateway and for the bare proxy, in ROUNDS interleaved rounds of
    // an evenly paced open-loop load (bench/paced.ts; autocannon's overallRate sends each second's
    // share at full speed); each one's median p99 is reported, after a paced warm-up of each.
    const half = Math.max(1, Math.round(on.rps / 2));
    const halfLoad = (port: number, headers: Record<string, string>, seconds: number) =>
      pacedLoad({ url: `http://127.0.0.1:${port}`, path: '/v1/lookups', body, headers, rate: half, seconds, connections: CONNECTIONS });
    // The bare proxy's warm-up first, so the gateway's first round follows its own warm-up directly.
    await halfLoad(bare.port, {}, HALF_WARMUP);
    await halfLoad(gw.port, auth, HALF_WARMUP);
    // The BENCH_COMPARE gateway at the same rate, interleaved too (with its own token).
    if (compareEntry) await halfLoad(compareEntry.port, compareEntry.headers, HALF_WARMUP);
    // Durable commits during the rounds: the gateway's own group commits, and a probe's lone
    // commits outside it (bench/commit-probe.ts), during the gateway's rounds and the bare proxy's.
    const probe = await startCommitProbe(db.url);
    const commits = { gateway: [] as number[], probeOn: [] as number[], probeBare: [] as number[] };
    await gw.target.flushes(true);
    const halfRuns = { on: [] as PacedResult[], bare: [] as PacedResult[], compare: [] as PacedResult[] };
    for (let round = 0; round < ROUNDS; round++) {
      probe.take();
      halfRuns.on.push(await halfLoad(gw.port, auth, DURATION));
      commits.probeOn.push(...probe.take());
      commits.gateway.push(...(await gw.target.flushes(round < ROUNDS - 1)));
      halfRuns.bare.push(await halfLoad(bare.port, {}, DURATION));
      commits.probeBare.push(...probe.take());
      if (compareEntry) halfRuns.compare.push(await halfLoad(compareEntry.port, compareEntry.headers, DURATION));
    }
    await probe.stop();
    const halfSummary = (runs: PacedResult[]) => ({
      p50: percentile(
        runs.map((r) => r.p50),
        50,
      ),
      p99: percentile(
        runs.map((r) => r.p99),
        50,
      ),
      all: runs.map((r) => fmt(r.p99, 1)),
      bad: runs.reduce((n, r) => n + r.bad, 0),
    });
    const onHalf = halfSummary(halfRuns.on);
    const bareHalf = halfSummary(halfRuns.bare);

    // The stage budget: a profile over its own load, so the profiler's overhead stays out of the figures
    // above. perf's cpu-clock samples of a gateway of its own when perf works here (BENCH_PROFILER=v8: V8's
    // profiler of the gateway above, as without perf).
    const profileSeconds = Math.max(3, Math.round(DURATION / 2));
    let perfSkipped = PROFILER === 'v8' ? 'BENCH_PROFILER=v8' : perfUnusable();
    let perfBudget: { stacks: string[][]; lookups: number } | null = null;
    let bareBudget: { stacks: string[][]; lookups: number } | string | null = null;
    let perfOk = 0;
    if (!perfSkipped) {
      try {
        const profiled = await perfProfile(['gateway', stubUrl, db.url], body, profileSeconds, (ok) => (perfOk = ok));
        perfBudget = { stacks: profiled.stacks, lookups: profiled.answered200 };
      } catch (err) {
        // A perf that records but cannot inject or print (an old perf, no jitdump): V8's profile instead.
        perfSkipped = `perf failed: ${String((err as Error).message).split('\n')[0]}`;
      }
    }
    // The bare proxy profiled the same way: where the gateway's CPU goes beyond a proxy's, stage by stage.
    if (perfBudget) {
      try {
        const profiled = await perfProfile(['bare', stubUrl], body, profileSeconds);
        bareBudget = { stacks: profiled.stacks, lookups: profiled.ok };
      } catch (err) {
        bareBudget = `perf failed on the bare proxy: ${String((err as Error).message).split('\n')[0]}`;
      }
    }
    const beforeProfile = await gw.target.answered200();
    const profiling = perfBudget ? null : await gw.target.ask('profile-start');
    if (profiling) await load(gw.port, body, profileSeconds, auth);
    const v8Profile = profiling ? await gw.target.ask('profile-stop') : null;
    const profiled = (await gw.target.answered200()) - beforeProfile;
    const soak = SOAK > 0 ? await soakRun(gw.target, gw.port, body, auth) : null;
    const gatewayOk = await gw.target.settledAnswered200();
    // The BENCH_COMPARE gateway and the one with its quotas in Redis write their events to the same trail.
    const comparedOk =
      (compareEntry ? await compareEntry.target.settledAnswered200() : 0) +
      (redisEntry ? await redisEntry.target.settledAnswered200() : 0) +
      (await floorEntry.target.settledAnswered200()) +
      (floorWithEvents ? await floorWithEvents.target.settledAnswered200() : 0) +
      perfOk;
    for (const s of started.splice(1).reverse()) await s.stop();
    const events = await sql<{ n: string }>`select count(*) as n from audit_events where action = 'lookup' and outcome = 'ok'`.execute(
      db.db,
    );
    const committed = Number(events.rows[0]!.n) - comparedOk;

    console.log(
      `\nbest of ${ROUNDS} interleaved rounds of ${DURATION} s (req/s and its p50/p99 from the best round; CPU per request: the least of the rounds)`,
    );
    console.log('| target                                       |   req/s |     p50 |     p99 | CPU µs/req |');
    console.log('|---|---|---|---|---|');
    for (const r of rows) console.log(r);
    console.log(
      `\ngateway / bare proxy: ${fmt(on.rps / bareLoad.rps, 2)} (req/s; target >= 0.5; ${paired(gw, bareEntry)}), CPU per request ${fmt((bareLoad.cpuPerRequestUs ?? 0) / (on.cpuPerRequestUs ?? 1), 2)}`,
    );
    if (nginxLoad) console.log(`gateway / nginx: ${fmt(on.rps / nginxLoad.rps, 2)}`);
    console.log(
      `floor / bare proxy: ${fmt(floorLoad.rps / bareLoad.rps, 2)} (req/s; ${paired(floorEntry, bareEntry)}): the most any gateway keeping the contract's guarantees on this stack reaches on this machine (bench/overhead-floor.ts); ` +
        `its CPU per lookup ${fmt(floorLoad.cpuPerRequestUs ?? 0)} µs (event loop ${fmt(floorLoad.loopPerRequestUs ?? 0)}) against the bare proxy's ${fmt(bareLoad.cpuPerRequestUs ?? 0)} (${fmt(bareLoad.loopPerRequestUs ?? 0)})`,
    );
    for (const part of floorParts)
      console.log(`  ${part.name} / bare proxy: ${fmt(best(part).rps / bareLoad.rps, 2)} (${paired(part, bareEntry)})`);
    console.log(
      `gateway / floor: ${fmt(on.rps / floorLoad.rps, 2)} (req/s; ${paired(gw, floorEntry)}): what onetrip's own rules, checks and bookkeeping cost beyond that`,
    );
    if (compared)
      console.log(
        `gateway / BENCH_COMPARE gateway: ${fmt(on.rps / compared.rps, 2)} (req/s; ${paired(gw, compareEntry!)}), CPU per lookup ${fmt((compared.cpuPerRequestUs ?? 0) / (on.cpuPerRequestUs ?? 1), 2)}x less`,
      );
    console.log(
      `audit on / off: ${fmt(on.rps / offLoad.rps, 2)} (req/s; target >= 0.9; ${paired(gw, offEntry)}), CPU per lookup on ${fmt(on.cpuPerRequestUs ?? 0)} µs, off ${fmt(offLoad.cpuPerRequestUs ?? 0)} µs`,
    );
    if (sharedQuotas)
      console.log(
        `quotas in Redis / in the process: ${fmt(sharedQuotas.rps / on.rps, 2)} (req/s; ${paired(redisEntry!, gw)}), CPU per lookup ${fmt(sharedQuotas.cpuPerRequestUs ?? 0)} against ${fmt(on.cpuPerRequestUs ?? 0)} µs (event loop ${fmt(sharedQuotas.loopPerRequestUs ?? 0)} against ${fmt(on.loopPerRequestUs ?? 0)})`,
      );
    console.log(
      `p99 at ${fmt(half)} req/s, evenly paced (half the gateway's rate; after ${HALF_WARMUP} s paced warm-up; median of ${ROUNDS} rounds): gateway ${fmt(onHalf.p99, 1)} ms, bare proxy ${fmt(bareHalf.p99, 1)} ms (target: gateway <= bare + 3 ms; rounds: gateway ${onHalf.all.join(', ')}, bare ${bareHalf.all.join(', ')} ms; p50 gateway ${fmt(onHalf.p50, 1)}, bare ${fmt(bareHalf.p50, 1)} ms)` +
        (onHalf.bad + bareHalf.bad > 0 ? `; ${onHalf.bad} gateway and ${bareHalf.bad} bare proxy answers not 200` : ''),
    );
    if (halfRuns.compare.length > 0) {
      const other = halfSummary(halfRuns.compare);
      console.log(
        `  BENCH_COMPARE gateway at the same rate: p99 ${fmt(other.p99, 1)} ms (rounds ${other.all.join(', ')}), p50 ${fmt(other.p50, 1)} ms` +
          (other.bad > 0 ? `; ${other.bad} answers not 200` : ''),
      );
    }
    for (const line of commitLines(commits, probe.failure)) console.log(line);
    for (const line of machineLines(bareLoad, on)) console.log(line);
    console.log(
      `every 200 has its event: the gateway sent ${gatewayOk} lookup answers with 200, ${committed} lookup events were committed with outcome ok${committed === gatewayOk ? ' ✓' : ' ✗ MISMATCH'}`,
    );
    if (soak)
      console.log(
        `soak: ${SOAK} s at full load, RSS after a full collection ${fmt(soak.start.rss / 1e6)} MB after the first 10 s → ${fmt(soak.end.rss / 1e6)} MB at the end (growth ${fmt(soak.growth * 100, 1)} %, target < 10 %); heap used after a full collection ${fmt(soak.start.heapUsed / 1e6)} → ${fmt(soak.end.heapUsed / 1e6)} MB; RSS under load every 10 s: first ${fmt(soak.first / 1e6)}, last ${fmt(soak.last / 1e6)}, ${fmt(soak.min / 1e6)}–${fmt(soak.max / 1e6)} MB`,
      );

    if (perfBudget && on.loopPerRequestUs !== null) {
      const budget = budgetFromPerf(perfBudget.stacks, on.loopPerRequestUs * perfBudget.lookups, perfBudget.lookups);
      const bare =
        typeof bareBudget === 'object' && bareBudget !== null && bareLoad.loopPerRequestUs !== null
          ? budgetFromPerf(bareBudget.stacks, bareLoad.loopPerRequestUs * bareBudget.lookups, bareBudget.lookups)
          : null;
      if (process.env.BENCH_PROFILE_OUT) writeFileSync(process.env.BENCH_PROFILE_OUT, collapsedStacks(perfBudget.stacks));
      console.log(
        `\nCPU budget per lookup by stage (perf: ${fmt(perfBudget.stacks.length)} cpu-clock samples of the event loop's thread over ${fmt(perfBudget.lookups)} lookups ` +
          `of a gateway of its own started with ${PERF_NODE_FLAGS.join(' ')}; its shares scaled to the event loop's ${fmt(on.loopPerRequestUs)} µs/lookup above` +
          (bare
            ? `; the bare proxy's the same way, over ${fmt((bareBudget as { lookups: number }).lookups)} requests, scaled to its ${fmt(bareLoad.loopPerRequestUs ?? 0)} µs/request)`
            : typeof bareBudget === 'string'
              ? `; ${bareBudget})`
              : ')'),
      );
      if (bare) console.log(`  ${''.padEnd(32)} gateway   bare proxy   gateway − bare`);
      for (const [i, { stage, us }] of budget.entries()) {
        const b = bare?.[i]!.us ?? 0;
        if (us < 0.5 && b < 0.5) continue;
        const cols = bare ? `${fmt(b).padStart(8)} µs ${fmt(us - b).padStart(10)} µs` : '';
        console.log(`  ${stage.padEnd(32)} ${fmt(us).padStart(6)} µs${cols}`);
      }
      if (on.cpuPerRequestUs !== null) {
        const bareOther =
          bare && bareLoad.cpuPerRequestUs !== null && bareLoad.loopPerRequestUs !== null
            ? bareLoad.cpuPerRequestUs - bareLoad.loopPerRequestUs
            : null;
        const gwOther = Math.max(0, on.cpuPerRequestUs - on.loopPerRequestUs);
        const cols =
          bareOther === null
            ? ''
            : `${fmt(Math.max(0, bareOther)).padStart(8)} µs ${fmt(gwOther - Math.max(0, bareOther)).padStart(10)} µs`;
        console.log(`  ${'other threads'.padEnd(32)} ${fmt(gwOther).padStart(6)} µs${cols} (V8's GC helpers, libuv's pool)`);
      }
    } else if (perfBudget) {
      console.log(`\nCPU budget per lookup by stage: skipped, the event loop's own CPU time needs Linux's /proc`);
    }
    if (v8Profile && 'profile' in v8Profile) {
      const stopped = v8Profile;
      if (perfSkipped)
        console.log(
          `\n(perf not used: ${perfSkipped}; V8's profiler instead, which charges socket writes the time the thread waited after them)`,
        );
      // The profile samples the main thread only: its shares are scaled to that thread's CPU time
      // where /proc gives it, and what the other threads spent is shown on its own line.
      const cpu = stopped.cpu.user + stopped.cpu.system;
      const loop = 'loop' in stopped && stopped.loop !== null ? stopped.loop : null;
      // The profiler costs the event loop too (~35 % more per lookup): the shares are scaled to the
      // event loop's CPU per lookup in the rounds without it, where /proc gives it.
      const unprofiledLoop = on.loopPerRequestUs !== null ? on.loopPerRequestUs * profiled : null;
      const budget = budgetPerLookup(stopped.profile as CpuProfile, unprofiledLoop ?? loop ?? cpu, profiled);
      if (process.env.BENCH_PROFILE_OUT) writeFileSync(process.env.BENCH_PROFILE_OUT, JSON.stringify(stopped.profile));
      console.log(
        `\nCPU budget per lookup by stage (V8 profile of ${fmt(profiled)} lookups, with the profiler on: ${fmt(cpu / profiled)} µs/lookup, ` +
          (loop === null
            ? `scaled to the gateway's process.cpuUsage)`
            : `${fmt(loop / profiled)} of them on the event loop; its shares scaled to the event loop's ${fmt((unprofiledLoop ?? loop) / profiled)} µs/lookup without the profiler)`),
      );
      for (const { stage, us } of budget) if (us >= 0.5) console.log(`  ${stage.padEnd(32)} ${fmt(us).padStart(6)} µs`);
      // Not (cpu - loop) of the profiled run: that counts V8's sampling thread, which exists only
      // while the profiler runs (~60 µs per lookup on a 2-core VM). The unprofiled rounds say it.
      if (on.cpuPerRequestUs !== null && on.loopPerRequestUs !== null)
        console.log(
          `  ${'other threads'.padEnd(32)} ${fmt(Math.max(0, on.cpuPerRequestUs - on.loopPerRequestUs)).padStart(6)} µs (V8's GC helpers, libuv's pool; measured in the rounds without the profiler: during the profile they and V8's sampling thread took ${fmt((cpu - (loop ?? cpu)) / profiled)})`,
        );
    }
  } finally {
    for (const s of started.reverse()) await s.stop().catch(() => {});
    await db.dispose();
  }
}

/**
 * The durable commits under the half-rate rounds: a lookup is answered only after its event's group
 * commit, so a commit that stalls (a disk flush that takes tens of ms) holds every lookup of its
 * batch and of the batches behind it. The probe's lone commits show whether PostgreSQL's commits
 * stalled during the bare proxy's rounds too, when the gateway was idle.
 */
function commitLines(commits: { gateway: number[]; probeOn: number[]; probeBare: number[] }, failure: unknown): string[] {
  const line = (s: LatencySummary) =>
    s.count === 0
      ? 'none'
      : `${fmt(s.count)}: p50 ${fmt(s.p50, 1)}, p99 ${fmt(s.p99, 1)}, max ${fmt(s.max, 1)} ms, ${s.stalls} of ${STALL_MS} ms or more`;
  return [
    `durable commits in the half-rate rounds (a lookup is answered after its event's commit; the bare proxy waits for none):`,
    `  gateway's audit group commits (batch sent → committed)       ${line(summarise(commits.gateway))}`,
    `  probe's one-row commits, during the gateway's rounds          ${line(summarise(commits.probeOn))}`,
    `  probe's one-row commits, during the bare proxy's rounds       ${line(summarise(commits.probeBare))}` +
      (failure ? ` (probe stopped early: ${String((failure as Error).message ?? failure)})` : ''),
  ];
}

/**
 * perf's samples of the event loop of a target of its own (`args` as for Target.start), started
 * with the jitdump flags in a temporary directory, warmed up, then recorded over `seconds` of load.
 * `settled` receives the gateway's settled 200 count once it stops (its events are in the trail).
 */
async function perfProfile(
  args: string[],
  body: string,
  seconds: number,
  settled?: (answered200: number) => void,
): Promise<{ stacks: string[][]; answered200: number; ok: number }> {
  const dir = perfDir();
  let profiled: Awaited<ReturnType<typeof Target.start>> | null = null;
  try {
    profiled = await Target.start(args, TARGETS, PERF_NODE_FLAGS, dir);
    const { port, token } = profiled;
    const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
    const gateway = args[0] === 'gateway';
    await load(port, body, WARMUP + DURATION, headers);
    const before = gateway ? await profiled.target.answered200() : 0;
    let ok = 0;
    const stacks = await perfSamples(profiled.target.proc.pid!, dir, async () => {
      ok = (await load(port, body, seconds, headers)).ok;
    });
    if (stacks.length === 0) throw new Error('perf recorded no samples');
    return { stacks, answered200: gateway ? (await profiled.target.answered200()) - before : 0, ok };
  } finally {
    if (profiled) {
      // A gateway's answers' events are in the trail whatever perf did: counted for "every 200 has its event".
      if (settled) settled(await profiled.target.settledAnswered200());
      await profiled.target.stop();
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Where the machine's CPU went in the bare proxy's and the gateway's best rounds, and what that
 * means for the target: the CPU per lookup one event loop may spend to reach half the bare proxy's
 * rate, and the most lookups/s this machine could carry even with the gateway spread over every CPU.
 */
function machineLines(bareLoad: Load, on: Load): string[] {
  const b = bareLoad.machine;
  const g = on.machine;
  if (!b || !g || bareLoad.cpuPerRequestUs === null || on.cpuPerRequestUs === null) {
    return ['machine: not measured (needs Linux /proc)'];
  }
  const pg = companions.localPostgres ? '' : ' (PostgreSQL is not on this machine: not counted)';
  const split = (target: number, m: NonNullable<Load['machine']>) =>
    `${fmt(target)} + stub ${fmt(m.stubUs)} + PostgreSQL ${fmt(m.postgresUs)} + load generator ${fmt(m.generatorUs)} µs, machine idle ${fmt(m.idle * 100)} %`;
  const companionsUs = g.stubUs + g.postgresUs + g.generatorUs;
  const c = ceiling(bareLoad.rps, on.cpuPerRequestUs, companionsUs);
  const loopUs = on.loopPerRequestUs ?? on.cpuPerRequestUs;
  return [
    `\nmachine (${c.cpus} CPUs, /proc) in the best rounds, CPU per request${pg}:`,
    `  bare proxy ${split(bareLoad.cpuPerRequestUs, b)}`,
    `  gateway    ${split(on.cpuPerRequestUs, g)}` +
      (on.loopPerRequestUs === null
        ? ''
        : ` (its event loop ${fmt(on.loopPerRequestUs)} µs, other threads ${fmt(on.cpuPerRequestUs - on.loopPerRequestUs)})`),
    `  to reach 0.5x the bare proxy (${fmt(bareLoad.rps / 2)} lookups/s) the gateway's event loop may spend ${fmt(c.oneLoopBudgetUs)} µs per lookup (it spends ${fmt(loopUs)}: ${fmt(loopUs / c.oneLoopBudgetUs, 2)}x the budget)`,
    `  with every CPU given to this work and the gateway spread over all of them: at most ${fmt(c.machineLimit)} lookups/s = ${fmt(c.machineLimit / bareLoad.rps, 2)}x the bare proxy` +
      (c.machineBudgetUs > 0
        ? `; 0.5x would need <= ${fmt(c.machineBudgetUs)} µs per lookup`
        : '; 0.5x is beyond this machine whatever the gateway spends'),
  ];
}

/**
 * Full load for SOAK seconds in 10 s slices: RSS sampled after every slice, and RSS and heap after a
 * full collection after the first slice against the end. A sample under load lands anywhere in V8's
 * old-generation cycle (tens of MB apart); what survives a full collection is what the process keeps.
 */
async function soakRun(target: Target, port: number, body: string, headers: Record<string, string>) {
  const samples: number[] = [];
  let start: { rss: number; heapUsed: number } | null = null;
  for (let t = 0; t < SOAK; t += 10) {
    await load(port, body, Math.min(10, SOAK - t), headers);
    samples.push(await target.rss());
    if (!start) start = await target.memoryAfterGc();
  }
  const end = await target.memoryAfterGc();
  const first = samples[0]!;
  const last = samples[samples.length - 1]!;
  return {
    first,
    last,
    min: Math.min(...samples),
    max: Math.max(...samples),
    start: start!,
    end,
    growth: (end.rss - start!.rss) / start!.rss,
  };
}

main().catch((err) => {
  console.error('benchmark failed:', err);
  process.exit(1);
});
