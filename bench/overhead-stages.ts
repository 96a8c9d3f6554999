/**
 * Turns a profile of the gateway's event loop under load into a CPU budget per lookup by stage.
 * Each sample is charged to a stage by its stack: the innermost frame in onetrip's own code that
 * names a stage wins (so Ed25519 inside proof.ts is "proof", inside auth.ts "auth"); a stack with
 * no such frame (socket callbacks, Fastify internals) is charged by the innermost library frame,
 * a package's before Node's own (a socket write under undici is the provider call's, not HTTP's).
 * The sampled shares are then scaled to the event loop's measured CPU time, which stays right when
 * other processes steal the cores.
 *
 * Two profiles feed it (bench/overhead-perf.ts says which): perf's cpu-clock samples of the event
 * loop's thread, which count CPU time only, the kernel's included; or, without perf, V8's own
 * sampling profiler. V8's samples are wall-clock ticks delivered when the thread runs: a thread
 * preempted inside a socket write (the write woke the reader on a busy machine) is charged the
 * whole wait, and what libuv does around its poll (socket reads) counts as idle. On a 2-core VM
 * that made writev ~22 % of the gateway's profile where perf measured 8–10 %.
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  hitCount?: number;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
}

export const STAGES = [
  'auth',
  'validation',
  'policy',
  'provider call',
  'schema check',
  'audit enqueue',
  'chain',
  'commit (Kysely + pg)',
  'proof',
  'serialisation',
  'lookup flow (rest)',
  'logging',
  'rate limit + metrics',
  'HTTP + Fastify core',
  'socket reads, event loop (no JS)',
  'GC',
  'other',
] as const;
export type Stage = (typeof STAGES)[number];

/** Frames of onetrip's own code (bench/ included for nothing: it never runs in the gateway). */
function ownStage(url: string, fn: string): Stage | null {
  const m = /\/src\/(.+)\.ts$/.exec(url);
  if (!m) return null;
  const file = m[1]!;
  if (file === 'plugins/tokens') return fn === 'providerToken' ? 'provider call' : 'auth';
  if (file === 'plugins/auth' || file === 'plugins/keys' || file.startsWith('keys/')) return 'auth';
  if (file.startsWith('auth/')) return 'auth';
  if (file === 'logging') return 'logging';
  // Global hooks are plain callbacks whose `done` runs the rest of the request on the same stack:
  // an anonymous hook frame names no stage (its own time goes to its caller, Fastify's hook runner).
  if (file.startsWith('plugins/') && fn === '') return null;
  if (file === 'lookups/proof') return fn === 'digestOf' ? 'audit enqueue' : 'proof';
  if (file === 'lookups/answer-check') return 'schema check';
  if (file.startsWith('policy/')) return 'policy';
  if (file.startsWith('adapters/') || file === 'plugins/adapters') return 'provider call';
  if (file === 'audit/chain') return 'chain';
  if (file === 'audit/storable' || file === 'plugins/audit') return 'audit enqueue';
  if (file === 'audit/writer') return fn === 'append' ? 'audit enqueue' : 'commit (Kysely + pg)';
  if (file === 'audit/repository' || file.startsWith('db/')) return 'commit (Kysely + pg)';
  if (file === 'plugins/rate-limit' || file === 'plugins/metrics') return 'rate limit + metrics';
  if (file === 'plugins/errors' || file === 'errors') return null;
  if (file.startsWith('subjects/')) return null; // charged to whoever parses or HMACs the subject
  if (file.startsWith('lookups/')) return 'lookup flow (rest)';
  return null;
}

/** Frames of libraries and Node, for stacks without an own frame. */
function libraryStage(url: string, fn: string): Stage | null {
  if (url.includes('/fast-jwt/') || url.includes('/@fastify/jwt/')) return 'auth';
  if (url.includes('/pg/') || url.includes('/pg-protocol/') || url.includes('/pg-pool/') || url.includes('/kysely/'))
    return 'commit (Kysely + pg)';
  if (url.includes('/undici/') || url.includes('/cockatiel/')) return 'provider call';
  if (url.includes('/jose/')) return 'proof';
  if (url.includes('/pino') || url.includes('/sonic-boom/') || url.includes('/fast-redact/')) return 'logging';
  if (url.includes('/@fastify/rate-limit/') || url.includes('/prom-client/')) return 'rate limit + metrics';
  if (url.includes('/fast-json-stringify/') || (url.includes('/fastify/lib/') && /serializ/i.test(fn))) return 'serialisation';
  if (url.includes('/fastify/lib/validation') || url.includes('/fastify/lib/contentTypeParser') || url.includes('/secure-json-parse/'))
    return 'validation';
  if (url.includes('/fastify/') || url.includes('/find-my-way/') || url.includes('/avvio/') || url.includes('/light-my-request/'))
    return 'HTTP + Fastify core';
  if (url.startsWith('node:_http') || url.startsWith('node:net') || url.startsWith('node:internal/stream') || url.startsWith('node:stream'))
    return 'HTTP + Fastify core';
  return null;
}

/**
 * The stage of one stack (innermost frame first): its innermost own frame's, else its innermost
 * package frame's, else its innermost Node frame's; null when no frame names one.
 */
function stageOfFrames(frames: ReadonlyArray<{ url: string; functionName: string }>): Stage | null {
  let lib: Stage | null = null;
  let nodeLib: Stage | null = null;
  for (const { url, functionName } of frames) {
    const own = ownStage(url, functionName);
    if (own) return own;
    const stage = libraryStage(url, functionName);
    if (url.startsWith('node:')) nodeLib ??= stage;
    else lib ??= stage;
  }
  return lib ?? nodeLib;
}

/** Charges every sample of `profile` to a stage; returns microseconds of samples per stage. */
export function stageSamples(profile: CpuProfile): Map<Stage, number> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stageOf = new Map<number, Stage | 'idle'>();
  const classify = (id: number): Stage | 'idle' => {
    const cached = stageOf.get(id);
    if (cached) return cached;
    const leaf = byId.get(id)!.callFrame.functionName;
    let stage: Stage | 'idle';
    if (leaf === '(idle)') stage = 'idle';
    else if (leaf === '(garbage collector)') stage = 'GC';
    else {
      const frames: Array<{ url: string; functionName: string }> = [];
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) frames.push(byId.get(at)!.callFrame);
      stage = stageOfFrames(frames) ?? 'other';
    }
    stageOf.set(id, stage);
    return stage;
  };
  const totals = new Map<Stage, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const stage = classify(samples[i]!);
    // timeDeltas[i] is the time before sample i; the next delta is the time this sample stood for.
    const us = deltas[i + 1] ?? deltas[i] ?? 0;
    if (stage !== 'idle') totals.set(stage, (totals.get(stage) ?? 0) + us);
  }
  return totals;
}

/** µs of CPU per lookup by stage: sampled shares scaled to the measured CPU time over `lookups`. */
export function budgetPerLookup(profile: CpuProfile, cpuMicros: number, lookups: number): Array<{ stage: Stage; us: number }> {
  return scaleShares(stageSamples(profile), cpuMicros, lookups);
}

/** Each stage's share of `totals` (samples or sampled µs) as µs of the `cpuMicros` spent on `lookups`. */
function scaleShares(totals: ReadonlyMap<Stage, number>, cpuMicros: number, lookups: number): Array<{ stage: Stage; us: number }> {
  const sampled = [...totals.values()].reduce((a, b) => a + b, 0) || 1;
  return STAGES.map((stage) => ({ stage, us: ((totals.get(stage) ?? 0) / sampled) * (cpuMicros / Math.max(1, lookups)) }));
}

/** A JIT frame as `perf script` prints it from V8's jitdump: `JS:*name url:line:column`. */
const JS_FRAME = /^JS:[*~^+]?(\S*) (\S+):\d+:\d+$/;

/**
 * The stage of one perf sample (symbol names, innermost first). perf sees machine frames only: a
 * function TurboFan inlined has no frame of its own, so signProof inlined into the lookup flow
 * leaves Ed25519 under the flow's frame. A library stage found inside the lookup flow's own frame
 * therefore wins over "lookup flow (rest)" (node:crypto's sign is the proof's; node:crypto's hash
 * stays the flow's). Samples without a JS frame are GC, or libuv and the kernel reading sockets.
 */
export function perfStackStage(symbols: readonly string[]): Stage {
  const frames: Array<{ url: string; functionName: string }> = [];
  for (const sym of symbols) {
    const m = JS_FRAME.exec(sym);
    if (m) frames.push({ url: m[2]!, functionName: m[1]! });
  }
  if (frames.length === 0) {
    if (symbols.some((s) => /Heap::|Scavenge|MarkCompact|Sweeper|GCTracer/.test(s))) return 'GC';
    if (symbols.some((s) => s.startsWith('uv_') || s.startsWith('uv__') || /epoll|^ep_/.test(s))) return 'socket reads, event loop (no JS)';
    // Stacks perf could not walk past OpenSSL's assembly: SHA-512 and field arithmetic are Ed25519's.
    if (symbols.some((s) => /^(sha512_block|ed25519|ossl_ed25519|fe_|ge_|x25519)/.test(s))) return 'proof';
    return 'other';
  }
  if (symbols.some((s) => /Heap::CollectGarbage|Scavenger::|MarkCompactCollector/.test(s))) return 'GC';
  const stage = stageOfFrames(frames);
  if (stage === 'lookup flow (rest)') {
    const inner = frames.findIndex((f) => ownStage(f.url, f.functionName) !== null);
    for (const f of frames.slice(0, inner)) {
      if (f.url === 'node:internal/crypto/sig') return 'proof';
      const lib = f.url.startsWith('node:') ? null : libraryStage(f.url, f.functionName);
      if (lib && lib !== 'HTTP + Fastify core') return lib;
    }
  }
  return stage ?? 'other';
}

/** µs of CPU per lookup by stage from perf samples (each one stack, innermost symbol first). */
export function budgetFromPerf(
  stacks: ReadonlyArray<readonly string[]>,
  cpuMicros: number,
  lookups: number,
): Array<{ stage: Stage; us: number }> {
  const counts = new Map<Stage, number>();
  for (const stack of stacks) {
    const stage = perfStackStage(stack);
    counts.set(stage, (counts.get(stage) ?? 0) + 1);
  }
  return scaleShares(counts, cpuMicros, lookups);
}
