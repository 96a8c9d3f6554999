/**
 * `npm run cli -- audit …`: verify the trail (in the database, or offline from NDJSON files) and
 * archive old months. Registered in the dispatch table of src/cli.ts.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { withDatabase, type Command } from '../cli-context.js';
import { compactVerify, createLocalJWKSet, type JSONWebKeySet } from 'jose';
import type { ChainPoint } from './chain.js';
import { CHECKPOINT_JWS_TYPE, type Checkpoint } from './checkpoints.js';
import { archiveBefore, RetentionError } from './retention.js';
import { readCheckpointsFile, verifyDatabase, verifyFiles, type FileVerdict } from './verify.js';

function chainPoint(option: string, value: string | undefined): ChainPoint | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d+):([0-9a-f]{64})$/.exec(value);
  if (!m) throw new Error(`${option} must be <seq>:<64 hex digits of hash>`);
  return { seq: Number(m[1]), hash: m[2]! };
}

/** Files with a `<file>.sha256` sidecar (archives) must match it byte for byte. */
async function sidecarMismatches(files: readonly string[]): Promise<string[]> {
  const bad: string[] = [];
  for (const file of files) {
    const sidecar = await readFile(`${file}.sha256`, 'utf8').catch(() => null);
    if (sidecar === null) continue;
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
    if (!sidecar.startsWith(hash.digest('hex'))) bad.push(file);
  }
  return bad;
}

function describeFileVerdict(v: FileVerdict, several: boolean): string {
  if (!v.ok && v.atEnd) return `BROKEN: ${v.reason}; ${v.checked} events read`;
  if (!v.ok)
    return `BROKEN: first broken seq ${v.firstBrokenSeq} (${several && v.file ? `${v.file} ` : ''}line ${v.line}): ${v.reason}; ${v.checked} events read`;
  if (v.checked === 0) return 'OK: no events';
  const from =
    v.anchor.seq === 0
      ? 'genesis'
      : `seq ${v.anchor.seq} (${v.anchored ? 'given anchor' : "the first event's prevHash; pass --anchor to tie it to the archive"})`;
  const signed = v.checkpointsMatched === undefined ? '' : `; ${v.checkpointsMatched} signed checkpoints matched`;
  return `OK: ${v.checked} events (seq ${v.anchor.seq + 1}..${v.head.seq}) verified from ${from}${signed}`;
}

/** Seqs of checkpoints whose JWS does not verify (EdDSA, checkpoint typ) against the JWKS file. */
async function unsignedCheckpoints(checkpoints: readonly Checkpoint[], jwksFile: string): Promise<number[]> {
  const keys = createLocalJWKSet(JSON.parse(await readFile(jwksFile, 'utf8')) as JSONWebKeySet);
  const bad: number[] = [];
  for (const c of checkpoints) {
    const ok = await compactVerify(c.jws, keys, { algorithms: ['EdDSA'] }).then(
      (r) => r.protectedHeader.typ === CHECKPOINT_JWS_TYPE,
      () => false,
    );
    if (!ok) bad.push(c.seq);
  }
  return bad;
}

export const AUDIT_COMMANDS: Record<string, Command> = {
  'audit verify': {
    usage:
      'audit verify [--file export.ndjson ...] [--anchor SEQ:HASH] [--head SEQ:HASH] [--checkpoints checkpoints.ndjson [--jwks jwks.json]]',
    summary:
      'recompute the audit hash chain: of the database (DATABASE_URL, or the embedded database in DATA_DIR), or offline of NDJSON exports/archives read line by line (several files verify as one chain, in the order given); exit 1 names the first broken seq',
    async run(args, ctx) {
      const { values } = parseArgs({
        args,
        options: {
          file: { type: 'string', multiple: true },
          anchor: { type: 'string' },
          head: { type: 'string' },
          checkpoints: { type: 'string' },
          jwks: { type: 'string' },
        },
        strict: true,
      });
      const files = values.file ?? [];
      if (files.length === 0) {
        const v = await withDatabase(ctx, ({ db }) => verifyDatabase(db));
        const from = v.anchor.seq === 0 ? 'genesis' : `the archive anchor at seq ${v.anchor.seq}`;
        const signed = v.latestCheckpoint ? `; latest signed checkpoint at seq ${v.latestCheckpoint.seq}` : '; no signed checkpoint yet';
        ctx.out(
          v.ok
            ? `OK: ${v.checked} events verified from ${from} to the head at seq ${v.head.seq}${signed}`
            : `BROKEN: first broken seq ${v.firstBrokenSeq}: ${v.reason}; ${v.checked} events read`,
        );
        return v.ok ? 0 : 1;
      }
      const anchor = chainPoint('--anchor', values.anchor);
      const expectHead = chainPoint('--head', values.head);
      if (values.jwks && !values.checkpoints) throw new Error('--jwks checks the signatures of --checkpoints; give both');
      const checkpoints = values.checkpoints ? await readCheckpointsFile(values.checkpoints) : undefined;
      if (checkpoints && values.jwks) {
        const forged = await unsignedCheckpoints(checkpoints, values.jwks);
        for (const seq of forged) ctx.out(`BROKEN: the checkpoint at seq ${seq} is not signed by a key of ${values.jwks}`);
        if (forged.length > 0) return 1;
      }
      const tampered = await sidecarMismatches(files);
      for (const f of tampered) ctx.out(`BROKEN: ${f} does not match its .sha256 sidecar`);
      const verdict = await verifyFiles(files, {
        ...(anchor ? { anchor } : {}),
        ...(expectHead ? { expectHead } : {}),
        ...(checkpoints ? { checkpoints } : {}),
      });
      ctx.out(describeFileVerdict(verdict, files.length > 1));
      return verdict.ok && tampered.length === 0 ? 0 : 1;
    },
  },
  'audit archive': {
    usage: 'audit archive --before YYYY-MM [--dir DIR]   (default DIR: DATA_DIR/archive)',
    summary:
      'write every audit event older than that month to NDJSON files with sha256 sidecars, drop their monthly partitions and move the chain anchor to the last archived event',
    async run(args, ctx) {
      const { values } = parseArgs({ args, options: { before: { type: 'string' }, dir: { type: 'string' } }, strict: true });
      if (!values.before) throw new Error('--before YYYY-MM is required');
      const dir = values.dir ?? path.join(ctx.config.dataDir, 'archive');
      try {
        const r = await withDatabase(ctx, ({ db }) => archiveBefore(db, { before: values.before!, dir }));
        if (r.files.length === 0) {
          ctx.out(`nothing to archive before ${r.before}`);
          return 0;
        }
        for (const f of r.files) ctx.out(`archived ${f.events} events (seq ${f.firstSeq}..${f.lastSeq}) to ${f.file}`);
        if (r.reroutedEvents > 0) ctx.out(`moved ${r.reroutedEvents} later events out of the default partition`);
        ctx.out(
          `dropped partitions: ${r.droppedPartitions.join(', ') || '(none)'}; anchor moved from seq ${r.previousAnchor.seq} to seq ${r.anchor.seq} (${r.anchor.hash})`,
        );
        return 0;
      } catch (err) {
        if (!(err instanceof RetentionError)) throw err;
        ctx.out(`refused: ${err.message}`);
        return 1;
      }
    },
  },
};
