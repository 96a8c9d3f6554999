/**
 * The stage budget's profile from Linux perf, when it is installed and allowed: cpu-clock samples of
 * one thread (the gateway's event loop), which count the CPU time that thread used, the kernel's
 * included, and nothing else. V8's own profiler samples by the wall clock (bench/overhead-stages.ts
 * says what that costs the budget); it stays the fallback.
 *
 * The gateway profiled here is a process of its own, started with V8's jitdump (`--perf-prof`) in a
 * scratch directory: perf then names every JIT frame by its function and file (`perf inject --jit`),
 * even when V8 moved or dropped the code since. Its flags do not slow it down (four interleaved
 * rounds on a 2-core VM against a gateway without them: 1.13× its lookups/s, that machine's noise).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** Node flags of the profiled gateway: a jitdump for perf, interpreted frames on the native stack. */
export const PERF_NODE_FLAGS = ['--perf-prof', '--interpreted-frames-native-stack'];
/** Samples per second: enough for a few thousand samples per stage-sized share in a few seconds. */
const FREQUENCY = 1999;

/** null when perf can record cpu-clock samples here; else why not (not installed, not permitted). */
export function perfUnusable(): string | null {
  const dir = mkdtempSync(path.join(tmpdir(), 'onetrip-perf-check-'));
  try {
    execFileSync('perf', ['--buildid-dir', dir, 'record', '-q', '-e', 'cpu-clock', '-o', path.join(dir, 'check.data'), '--', 'true'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 20_000,
    });
    return null;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') return 'perf is not installed (Debian: linux-perf)';
    const first = e.stderr?.toString().trim().split('\n').find(Boolean);
    return `perf record failed${first ? `: ${first}` : ''} (kernel.perf_event_paranoid, or a container without perf events)`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A scratch directory for the profiled gateway's jitdump and for perf's files. */
export function perfDir(): string {
  return mkdtempSync(path.join(tmpdir(), 'onetrip-perf-'));
}

/**
 * Records thread `tid` (a process's main thread has the process's id) while `during` runs, and
 * returns every sample's stack as symbol names, innermost first. `dir` is the profiled process's
 * working directory, where V8 wrote its jitdump.
 */
export async function perfSamples(tid: number, dir: string, during: () => Promise<void>): Promise<string[][]> {
  const raw = path.join(dir, 'raw.data');
  const jitted = path.join(dir, 'jitted.data');
  // -k mono: the clock V8's jitdump stamps its records with, so perf inject can match them.
  const recorder = spawn(
    'perf',
    ['--buildid-dir', dir, 'record', '-q', '-k', 'mono', '-e', 'cpu-clock', '-F', String(FREQUENCY), '-g', '-t', String(tid), '-o', raw],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  recorder.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  // perf writes its data on SIGINT, then ends itself by that same signal.
  const exited = new Promise<boolean>((resolve) => recorder.once('exit', (code, signal) => resolve(code === 0 || signal === 'SIGINT')));
  // perf needs a moment to attach; samples before the load would be the idle loop's.
  await new Promise((r) => setTimeout(r, 300));
  try {
    await during();
  } finally {
    recorder.kill('SIGINT');
  }
  if (!(await exited)) throw new Error(`perf record failed: ${stderr.trim()}`);
  execFileSync('perf', ['--buildid-dir', dir, 'inject', '--jit', '-i', raw, '-o', jitted], { cwd: dir, stdio: 'ignore' });
  const script = execFileSync('perf', ['--buildid-dir', dir, 'script', '-F', 'ip,sym', '-i', jitted], {
    cwd: dir,
    maxBuffer: 1 << 30,
    stdio: ['ignore', 'pipe', 'ignore'],
  }).toString();
  return parseScript(script);
}

/** `perf script -F ip,sym`: a blank line between samples, one `<address> <symbol>` line per frame. */
export function parseScript(text: string): string[][] {
  const samples: string[][] = [];
  let current: string[] | null = null;
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (!trimmed) {
      current = null;
      continue;
    }
    if (!current) {
      current = [];
      samples.push(current);
    }
    const space = trimmed.indexOf(' ');
    current.push(space < 0 ? '[unknown]' : trimmed.slice(space + 1));
  }
  return samples;
}

/** Samples as collapsed stacks (`outer;…;inner count` per line): what flame graph tools read. */
export function collapsedStacks(samples: ReadonlyArray<readonly string[]>): string {
  const counts = new Map<string, number>();
  for (const stack of samples) {
    const key = [...stack]
      .reverse()
      .map((s) => s.replaceAll(';', ':'))
      .join(';');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([key, n]) => `${key} ${n}`).join('\n') + '\n';
}
