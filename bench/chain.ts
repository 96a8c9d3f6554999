/**
 * CPU of the audit chain step per event: `chainBatch` (src/audit/chain.ts) against the reference
 * definition of the hash, SHA-256(prevHash, '\n', canonicalize(event without hash)) with the
 * `canonicalize` package, over batches of synthetic lookup events. Checks both give the same hashes.
 *
 *   npx tsx bench/chain.ts            (BENCH_BATCH=16 events per batch, BENCH_ITERATIONS=20000 batches)
 */
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { chainBatch, type ChainPoint } from '../src/audit/chain.js';
import type { AuditEvent, AuditEventInput } from '../src/audit/event.js';
import { syntheticInput } from './audit-support.js';

const BATCH = Number(process.env.BENCH_BATCH ?? 16);
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 20_000);

function referenceChain(head: ChainPoint, inputs: readonly AuditEventInput[]): AuditEvent[] {
  const out: AuditEvent[] = [];
  let prev = head;
  for (const input of inputs) {
    const unhashed = {
      ...input,
      seq: prev.seq + 1,
      prevHash: prev.hash,
      time: new Date(input.time).toISOString(),
      detail: input.detail ?? null,
    };
    const hash = createHash('sha256').update(prev.hash).update('\n').update(canonicalize(unhashed)!).digest('hex');
    out.push({ ...unhashed, hash });
    prev = { seq: prev.seq + 1, hash };
  }
  return out;
}

function perEventMicros(f: () => unknown): number {
  for (let i = 0; i < ITERATIONS / 10; i++) f();
  const start = process.cpuUsage();
  for (let i = 0; i < ITERATIONS; i++) f();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / (ITERATIONS * BATCH);
}

const inputs = Array.from({ length: BATCH }, (_, i) => syntheticInput(i));
const head: ChainPoint = { seq: 1000, hash: 'ab'.repeat(32) };
const same = referenceChain(head, inputs).every((e, i) => e.hash === chainBatch(head, inputs).events[i]!.hash);
if (!same) throw new Error('chainBatch and the reference disagree');
for (let round = 1; round <= 2; round++) {
  const reference = perEventMicros(() => referenceChain(head, inputs));
  const fast = perEventMicros(() => chainBatch(head, inputs));
  console.log(
    `round ${round}: reference (canonicalize) ${reference.toFixed(2)} µs/event, chainBatch ${fast.toFixed(2)} µs/event (with the batch's INSERT JSON), ${(reference / fast).toFixed(1)}x`,
  );
}
