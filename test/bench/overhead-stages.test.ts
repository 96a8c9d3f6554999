import { describe, expect, it } from 'vitest';
import { collapsedStacks, parseScript } from '../../bench/overhead-perf.js';
import { budgetFromPerf, budgetPerLookup, perfStackStage, type CpuProfile } from '../../bench/overhead-stages.js';

const SRC = 'file:///repo/src';
const NM = 'file:///repo/node_modules';

/** A V8 profile of one stack (outermost first), sampled `n` times at 100 µs. */
function profileOf(stack: Array<{ functionName: string; url: string }>, n = 10): CpuProfile {
  const nodes = stack.map((callFrame, i) => ({ id: i + 1, callFrame, ...(i + 1 < stack.length ? { children: [i + 2] } : {}) }));
  return { nodes, samples: Array(n).fill(stack.length), timeDeltas: Array(n).fill(100) };
}

const stageOf = (budget: Array<{ stage: string; us: number }>) => budget.filter((b) => b.us > 0).map((b) => b.stage);

describe('stage budget: which stage a sample is charged to', () => {
  it('charges a socket write under undici to the provider call, not to HTTP (V8 profile)', () => {
    const profile = profileOf([
      { functionName: '(root)', url: '' },
      { functionName: 'processTicksAndRejections', url: 'node:internal/process/task_queues' },
      { functionName: 'writeH1', url: `${NM}/undici/lib/dispatcher/client-h1.js` },
      { functionName: 'Socket._writeGeneric', url: 'node:net' },
      { functionName: 'writev', url: '' },
    ]);
    expect(stageOf(budgetPerLookup(profile, 1000, 1))).toEqual(['provider call']);
  });

  it('charges a socket write with no package frame to HTTP (V8 profile)', () => {
    const profile = profileOf([
      { functionName: 'writePayload', url: `${NM}/fastify/lib/reply.js` },
      { functionName: 'end', url: 'node:_http_outgoing' },
      { functionName: 'writev', url: '' },
    ]);
    expect(stageOf(budgetPerLookup(profile, 1000, 1))).toEqual(['HTTP + Fastify core']);
  });

  it('reads perf stacks: JIT frames by file, Ed25519 inlined into the lookup flow as the proof', () => {
    expect(
      perfStackStage(['ed25519_digest_sign', 'JS:*signOneShot node:internal/crypto/sig:143:21', `JS:* ${SRC}/lookups/flow.ts:1:4176`]),
    ).toBe('proof');
    expect(perfStackStage(['EVP_Digest', 'JS:*hash node:internal/crypto/hash:200:1', `JS:*fetchOne ${SRC}/lookups/flow.ts:1:9`])).toBe(
      'lookup flow (rest)',
    );
    expect(
      perfStackStage([
        'do_writev',
        '__GI___writev',
        'JS:*Socket._writeGeneric node:net:926:41',
        `JS:*writeH1 ${NM}/undici/lib/dispatcher/client-h1.js:1144:18`,
        `JS:*fetchOne ${SRC}/lookups/flow.ts:1:9`,
      ]),
    ).toBe('provider call');
    // An own frame nearer the leaf than the flow names the stage (a token verified in auth.ts).
    expect(
      perfStackStage([
        'JS:*verifyOneShot node:internal/crypto/sig:1:1',
        `JS:*verify ${NM}/fast-jwt/src/verifier.js:1:1`,
        `JS:*authenticate ${SRC}/plugins/auth.ts:1:1`,
      ]),
    ).toBe('auth');
  });

  it('charges perf samples without a JS frame to GC or to the event loop reading sockets', () => {
    expect(perfStackStage(['v8::internal::Scavenger::ScavengeObject', 'v8::internal::Heap::Scavenge'])).toBe('GC');
    expect(perfStackStage(['copy_to_user', 'read', 'uv__read', 'uv__io_poll', 'uv_run'])).toBe('socket reads, event loop (no JS)');
    expect(perfStackStage(['[unknown]'])).toBe('other');
  });

  it('scales perf sample counts to the measured CPU per lookup', () => {
    const flow = [`JS:*fetchOne ${SRC}/lookups/flow.ts:1:9`];
    const proof = ['JS:*signOneShot node:internal/crypto/sig:1:1', ...flow];
    const budget = budgetFromPerf([flow, flow, flow, proof], 4000, 10);
    expect(budget.find((b) => b.stage === 'lookup flow (rest)')!.us).toBe(300);
    expect(budget.find((b) => b.stage === 'proof')!.us).toBe(100);
    expect(budget.reduce((a, b) => a + b.us, 0)).toBeCloseTo(400);
  });
});

describe('perf script output', () => {
  it('parses samples, innermost frame first, and writes collapsed stacks', () => {
    const text = [
      '',
      '\tffffffff820b7880 inet_sendmsg',
      '\t           fde9d __GI___writev',
      '\t    7f0ab7991e18 JS:*subjectHmac file:///repo/src/subjects/index.ts:1:1934',
      '',
      '\t          9dd4a6 uv__io_poll',
      '\t          9dd4a7 uv_run',
      '',
      '\t          9dd4a6 uv__io_poll',
      '\t          9dd4a7 uv_run',
      '',
    ].join('\n');
    const samples = parseScript(text);
    expect(samples).toEqual([
      ['inet_sendmsg', '__GI___writev', 'JS:*subjectHmac file:///repo/src/subjects/index.ts:1:1934'],
      ['uv__io_poll', 'uv_run'],
      ['uv__io_poll', 'uv_run'],
    ]);
    expect(collapsedStacks(samples).split('\n').filter(Boolean).sort()).toEqual([
      'JS:*subjectHmac file:///repo/src/subjects/index.ts:1:1934;__GI___writev;inet_sendmsg 1',
      'uv_run;uv__io_poll 2',
    ]);
  });
});
