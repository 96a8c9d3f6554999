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
import type { ChainPoint } from './chain.js';
import { archiveBefore, RetentionError } from './retention.js';
import { verifyDatabase, verifyFiles, type FileVerdict } from './verify.js';



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
  if (!v.ok) return `BROKEN: first broken seq ${v.firstBrokenSeq} (${several && v.file ? `${v.file} ` : ''}line ${v.line}): ${v.reason}; ${v.checked} events read`;
  if (v.checked === 0) return 'OK: no events';
  const from = v.anchor.seq === 0 ? 'genesis' : `seq ${v.anchor.seq} (${v.anchored ? 'given anchor' : "the first event's prevHash; pass --anchor to tie it to the archive"})`;
  return `OK: ${v.checked} events (seq ${v.anchor.seq + 1}..${v.head.seq}) verified from ${from}`;
}

export const AUDIT_COMMANDS: Record<string, Command> = {
  'audit verify': {
    usage: 'audit verify [--file export.ndjson ...] [--anchor SEQ:HASH] [--head SEQ:HASH]',
    summary:
      'recompute the audit hash chain: of the database (DATABASE_URL, or the embedded database in DATA_DIR), or offline of NDJSON exports/archives read line by line (several files verify as one chain, in the order given); exit 1 names the first broken seq',
    async run(args, ctx) {
      const { values } = parseArgs({
        args,
        options: { file: { type: 'string', multiple: true }, anchor: { type: 'string' }, head: { type: 'string' } },
        strict: true,
      });
      const files = values.file ?? [];
      if (files.length === 0) {
        const v = await withDatabase(ctx, (h) => verifyDatabase(h.db));
        const from = v.anchor.seq === 0 ? 'genesis' : `the archive anchor at seq ${v.anchor.seq}`;
        ctx.out(v.ok ? `OK: ${v.checked} events verified from ${from} to the head at seq ${v.head.seq}` : `BROKEN: first broken seq ${v.firstBrokenSeq}: ${v.reason}; ${v.checked} events read`);
        return v.ok ? 0 : 1;
      }
      const anchor = chainPoint('--anchor', values.anchor);
      const expectHead = chainPoint('--head', values.head);
      const tampered = await sidecarMismatches(files);
      for (const f of tampered) ctx.out(`BROKEN: ${f} does not match its .sha256 sidecar`);
      const verdict = await verifyFiles(files, { ...(anchor ? { anchor } : {}), ...(expectHead ? { expectHead } : {}) });
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
        const r = await withDatabase(ctx, (h) => archiveBefore(h.db, { before: values.before!, dir }));
        if (r.files.length === 0) {
          ctx.out(`nothing to archive before ${r.before}`);
          return 0;
        }
        for (const f of r.files) ctx.out(`archived ${f.events} events (seq ${f.firstSeq}..${f.lastSeq}) to ${f.file}`);
        if (r.reroutedEvents > 0) ctx.out(`moved ${r.reroutedEvents} later events out of the default partition`);
        ctx.out(`dropped partitions: ${r.droppedPartitions.join(', ') || '(none)'}; anchor moved from seq ${r.previousAnchor.seq} to seq ${r.anchor.seq} (${r.anchor.hash})`);
        return 0;
      } catch (err) {
        if (!(err instanceof RetentionError)) throw err;
        ctx.out(`refused: ${err.message}`);
        return 1;
      }
    },
  },
};
