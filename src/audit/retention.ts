import { createHash, type Hash } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, writeFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'kysely';
import type { DB } from '../db/index.js';
import { ChainVerifier, type ChainPoint } from './chain.js';
import type { AuditEvent } from './event.js';
import { ndjsonLine } from './export.js';
import { scanEvents } from './query.js';
import { lockChainHead, readChainHead } from './repository.js';

/** A refusal the operator can act on; nothing was dropped. */
export class RetentionError extends Error {
  override readonly name = 'RetentionError';
}

export interface ArchivedFile {
  file: string;
  sha256: string;
  events: number;
  firstSeq: number;
  lastSeq: number;
}

export interface ArchiveResult {
  before: string;
  files: ArchivedFile[];
  droppedPartitions: string[];
  /** Events moved out of the default partition into their month partitions. */
  reroutedEvents: number;
  previousAnchor: ChainPoint;
  anchor: ChainPoint;
}

const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;
const PARTITION = /^audit_events_(\d{4})_(\d{2})$/;

/**
 * Retention: every event older than `before` (YYYY-MM, UTC) is written to `dir` as NDJSON (one file
 * per month, seq order, with a sha256 sidecar and a manifest), then its monthly partitions are
 * detached and dropped and the chain anchor moves to the last archived event, so `verify` goes on
 * from there. Events of those months that sit in the default partition are archived too, and the
 * default partition is rebuilt without them. Refuses, dropping nothing, when the events to archive
 * do not verify from the current anchor.
 */
export async function archiveBefore(db: DB, options: { before: string; dir: string; now?: Date }): Promise<ArchiveResult> {
  const match = MONTH.exec(options.before);
  if (!match) throw new RetentionError(`--before must be a month as YYYY-MM, not "${options.before}"`);
  const cutoff = new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, 1));
  const now = options.now ?? new Date();
  if (cutoff.getTime() > Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)) {
    throw new RetentionError(`${options.before} is after the current month; the month being written cannot be archived`);
  }
  // Checked first: a gap in the archived months caused by interleaving must not read as tampering.
  const [before, after] = await Promise.all([seqBound(db, 'max', '<', cutoff), seqBound(db, 'min', '>=', cutoff)]);
  if (before !== null && after !== null && after < before) {
    throw new RetentionError(
      `event ${after} (on or after ${options.before}) precedes event ${before} (before it): the months interleave in seq order ` +
        `(replica clocks at a month boundary); archive up to an earlier month. Nothing was archived.`,
    );
  }
  const head = await readChainHead(db);
  await mkdir(options.dir, { recursive: true });
  const written = await writeArchive(db, cutoff, head.anchor, options.dir);
  const last = written.last;
  const previousAnchor = head.anchor;
  if (!last) return { before: options.before, files: [], droppedPartitions: [], reroutedEvents: 0, previousAnchor, anchor: previousAnchor };

  const files = await publish(written.files, options.dir);
  const anchor = { seq: last.seq, hash: last.hash };
  const { dropped, rerouted } = await dropArchived(db, cutoff, previousAnchor, anchor, written.events).catch(async (err: unknown) => {
    // Published files name partitions that are still in the database: take them back.
    for (const f of files) await rm(f.file, { force: true }).then(() => rm(`${f.file}.sha256`, { force: true }));
    throw err;
  });
  const result: ArchiveResult = {
    before: options.before,
    files,
    droppedPartitions: dropped,
    reroutedEvents: rerouted,
    previousAnchor,
    anchor,
  };
  await writeFile(path.join(options.dir, `audit-archive-before-${options.before}.json`), JSON.stringify(result, null, 2) + '\n');
  return result;
}

/** In one transaction: re-check what was archived, drop its partitions, move the anchor. */
async function dropArchived(db: DB, cutoff: Date, previousAnchor: ChainPoint, anchor: ChainPoint, events: number) {
  return db.transaction().execute(async (trx) => {
    await sql`set local lock_timeout = '10s'`.execute(trx);
    // The head lock keeps writers out until the partitions are gone and the anchor has moved.
    await lockChainHead(trx);
    const current = await readChainHead(trx);
    if (current.anchor.seq !== previousAnchor.seq) throw new RetentionError('another archive ran meanwhile; run again');
    const again = await trx
      .selectFrom('audit_events')
      .select([sql<number>`count(*)`.as('n'), sql<number | null>`max(seq)`.as('max')])
      .where('time', '<', cutoff)
      .executeTakeFirstOrThrow();
    if (Number(again.n) !== events || Number(again.max) !== anchor.seq) {
      throw new RetentionError('events older than the cutoff changed while archiving; run again');
    }
    // The anchor moves first: the database lets only the transaction that moved it detach or drop
    // audit partitions (event trigger of migrations/0004_audit_checkpoints.ts).
    await trx.updateTable('audit_chain_head').set({ anchor_seq: anchor.seq, anchor_hash: anchor.hash }).where('id', '=', 1).execute();
    const partitions = await oldPartitions(trx, cutoff);
    for (const name of partitions) {
      await sql`alter table audit_events detach partition ${sql.id(name)}`.execute(trx);
      await sql`drop table ${sql.id(name)}`.execute(trx);
    }
    const moved = await rebuildDefaultPartition(trx, cutoff);
    return { dropped: partitions, rerouted: moved };
  });
}

/** Highest or lowest seq on one side of the cutoff (partition pruning keeps it to those months). */
async function seqBound(db: DB, fn: 'max' | 'min', op: '<' | '>=', cutoff: Date): Promise<number | null> {
  const agg = fn === 'max' ? sql<number | null>`max(seq)` : sql<number | null>`min(seq)`;
  const row = await db.selectFrom('audit_events').select(agg.as('seq')).where('time', op, cutoff).executeTakeFirst();
  return row?.seq === null || row?.seq === undefined ? null : Number(row.seq);
}

interface MonthFile {
  name: string;
  handle: FileHandle;
  hash: Hash;
  events: number;
  firstSeq: number;
  lastSeq: number;
}

/** Streams the events before `cutoff` into per-month `.partial` files, checking the chain as it goes. */
async function writeArchive(db: DB, cutoff: Date, anchor: ChainPoint, dir: string) {
  const files = new Map<string, MonthFile>();
  const verifier = new ChainVerifier(anchor);
  let last: AuditEvent | null = null;
  let events = 0;
  try {
    for await (const page of scanEvents(db, { to: cutoff.toISOString() }, { pageSize: 2000 })) {
      const chunks = new Map<MonthFile, string[]>();
      for (const event of page) {
        verifier.push(event);
        const name = `audit_events_${event.time.slice(0, 4)}_${event.time.slice(5, 7)}`;
        let file = files.get(name);
        if (!file) {
          file = {
            name,
            handle: await open(path.join(dir, `${name}.partial`), 'w'),
            hash: createHash('sha256'),
            events: 0,
            firstSeq: event.seq,
            lastSeq: event.seq,
          };
          files.set(name, file);
        }
        file.events += 1;
        file.lastSeq = event.seq;
        const lines = chunks.get(file) ?? [];
        lines.push(ndjsonLine(event));
        chunks.set(file, lines);
        last = event;
        events += 1;
      }
      for (const [file, lines] of chunks) {
        const text = lines.join('');
        file.hash.update(text);
        await file.handle.write(text);
      }
    }
    const verdict = verifier.result();
    if (!verdict.ok) {
      throw new RetentionError(
        `the events to archive do not verify from the anchor (seq ${anchor.seq}): first broken seq ${verdict.firstBrokenSeq} (${verdict.reason}). ` +
          'Nothing was archived; investigate with "audit verify".',
      );
    }
    for (const file of files.values()) await file.handle.sync();
    return { files: [...files.values()], last, events };
  } catch (err) {
    await discard([...files.values()], dir);
    throw err;
  } finally {
    for (const file of files.values()) await file.handle.close().catch(() => undefined);
  }
}

/** Renames the `.partial` files to their final names and writes the sha256 sidecars. */
async function publish(files: MonthFile[], dir: string): Promise<ArchivedFile[]> {
  const out: ArchivedFile[] = [];
  for (const f of files) {
    const base = `${f.name}.seq-${f.firstSeq}-${f.lastSeq}.ndjson`;
    const sha256 = f.hash.digest('hex');
    const target = path.join(dir, base);
    const existing = await readFile(`${target}.sha256`, 'utf8').catch(() => null);
    // The same seq range archived before (a rerun after a crash) must be the same bytes.
    if (existing !== null && !existing.startsWith(sha256)) throw new RetentionError(`${target} already exists with other content`);
    await rename(path.join(dir, `${f.name}.partial`), target);
    await writeFile(`${target}.sha256`, `${sha256}  ${base}\n`);
    out.push({ file: target, sha256, events: f.events, firstSeq: f.firstSeq, lastSeq: f.lastSeq });
  }
  return out;
}

async function discard(files: MonthFile[], dir: string): Promise<void> {
  for (const f of files) await rm(path.join(dir, `${f.name}.partial`), { force: true });
}

/** Monthly partitions that lie wholly before the cutoff. */
async function oldPartitions(trx: DB, cutoff: Date): Promise<string[]> {
  const rows = await sql<{ name: string }>`
    select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
    where i.inhparent = 'audit_events'::regclass order by c.relname`.execute(trx);
  return rows.rows
    .map((r) => r.name)
    .filter((name) => {
      const m = PARTITION.exec(name);
      return m !== null && Date.UTC(Number(m[1]), Number(m[2]) - 1, 1) < cutoff.getTime();
    });
}

/**
 * The default partition holds rows only if their month partition was missing when they were
 * written. Rows cannot be deleted from it (append-only), so when it holds archived months it is
 * swapped for an empty one and its newer rows are re-inserted into their month partitions.
 */
async function rebuildDefaultPartition(trx: DB, cutoff: Date): Promise<number> {
  const old = await sql<{ n: number }>`select count(*)::int as n from audit_events_default where time < ${cutoff}`.execute(trx);
  if (Number(old.rows[0]?.n ?? 0) === 0) return 0;
  await sql`
    alter table audit_events detach partition audit_events_default;
    alter table audit_events_default rename to audit_events_default_archived;
    create table audit_events_default partition of audit_events default;
    create trigger audit_events_default_no_truncate before truncate on audit_events_default
      for each statement execute function onetrip_audit_append_only();
  `.execute(trx);
  await sql`
    select onetrip_audit_ensure_partition(m) from (
      select distinct date_trunc('month', time at time zone 'UTC') at time zone 'UTC' as m
      from audit_events_default_archived where time >= ${cutoff}) months`.execute(trx);
  // These events are already counted in report_cases (migration 0006): its trigger skips them.
  await sql`select set_config('onetrip.rerouting', 'on', true)`.execute(trx);
  const moved = await sql`insert into audit_events select * from audit_events_default_archived where time >= ${cutoff}`.execute(trx);
  await sql`drop table audit_events_default_archived`.execute(trx);
  return Number(moved.numAffectedRows ?? 0n);
}
