import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { sql } from 'kysely';
import type { DB } from '../db/index.js';
import { ChainVerifier, GENESIS_HASH, type ChainPoint, type ChainVerdict } from './chain.js';
import type { AuditEvent } from './event.js';
import { scanEvents } from './query.js';
import { readChainHead } from './repository.js';

export interface DatabaseVerdict extends ChainVerdict {
  /** Where the check started: genesis (seq 0), or the last archived event. */
  anchor: ChainPoint;
}

/**
 * Recomputes the chain from the anchor to the stored head, streaming in seq order by keyset pages
 * (never the whole table in memory). Events written while it runs lie past the head it read and are
 * left for the next check.
 */
export async function verifyDatabase(db: DB, options: { pageSize?: number } = {}): Promise<DatabaseVerdict> {
  const head = await readChainHead(db);
  const verifier = new ChainVerifier(head.anchor);
  const pages = scanEvents(db, {}, { afterSeq: head.anchor.seq, upToSeq: head.seq, pageSize: options.pageSize ?? 2000 });
  for await (const page of pages) for (const event of page) verifier.push(event);
  const verdict = verifier.result({ seq: head.seq, hash: head.hash });
  if (verdict.ok) {
    const stray = await strayEvent(db);
    if (stray) return { ...verdict, ok: false, firstBrokenSeq: stray.seq, reason: stray.reason, anchor: head.anchor };
  }
  return { ...verdict, anchor: head.anchor };
}

/**
 * A row outside (anchor, head] cannot come from a writer: the head moves in the same transaction
 * as the inserts. Head and rows are read in one snapshot, so a batch committing meanwhile is not
 * mistaken for a forgery.
 */
async function strayEvent(db: DB): Promise<{ seq: number; reason: string } | null> {
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (trx) => {
      const head = await readChainHead(trx);
      const row = await trx
        .selectFrom('audit_events')
        .select(sql<number>`min(seq)`.as('seq'))
        .where((eb) => eb.or([eb('seq', '<=', head.anchor.seq), eb('seq', '>', head.seq)]))
        .executeTakeFirst();
      if (row?.seq === null || row?.seq === undefined) return null;
      const seq = Number(row.seq);
      return {
        seq,
        reason: seq <= head.anchor.seq ? `event ${seq} lies at or before the archive anchor ${head.anchor.seq}` : `event ${seq} lies past the chain head ${head.seq}`,
      };
    });
}

export interface FileVerdict extends ChainVerdict {
  /** The trusted starting point: genesis, the given anchor, or (unanchored) the first event's prevHash. */
  anchor: ChainPoint;
  /** True when the file starts at seq 1 from the genesis hash, or at the given anchor. */
  anchored: boolean;
  /** 1-based line of the first problem, when there is one (within `file`, when read from files). */
  line?: number;
  file?: string;
}

export interface FileVerifyOptions {
  /** Where the file must start (e.g. the anchor an archive was cut at). */
  anchor?: ChainPoint;
  /** Where it must end (e.g. `head` from GET /v1/audit/verify); catches events cut off the end. */
  expectHead?: ChainPoint;
}

/**
 * Offline verification of an NDJSON export, read line by line. A file starting at seq 1 is checked
 * from the genesis hash; a file starting later (an archive after retention, or an export from a
 * later point) is checked from `anchor` when given, otherwise from its first event's own prevHash —
 * which proves the file is an unbroken piece of a chain, not where that piece sits. A filtered
 * export has gaps by design and does not verify.
 */
export async function verifyNdjson(lines: AsyncIterable<string>, options: FileVerifyOptions = {}): Promise<FileVerdict> {
  let verifier: ChainVerifier | null = null;
  let anchor: ChainPoint | null = options.anchor ?? null;
  let anchored = options.anchor !== undefined;
  let lineNo = 0;
  let brokenLine: number | undefined;
  let unreadable: { seq: number; reason: string } | null = null;
  let skipped = 0;
  let lastSeq = anchor?.seq ?? 0;
  for await (const raw of lines) {
    lineNo += 1;
    if (raw.trim() === '') continue;
    const event = parseEvent(raw);
    if (!verifier) {
      if (!anchor) {
        // Unanchored: trust where the file says it starts; only seq 1 can be tied to genesis.
        const first = event ?? { seq: 1, prevHash: GENESIS_HASH };
        anchor = { seq: first.seq - 1, hash: first.seq === 1 ? GENESIS_HASH : first.prevHash };
        anchored = first.seq === 1;
        lastSeq = anchor.seq;
      }
      verifier = new ChainVerifier(anchor);
    }
    if (unreadable || !event) {
      skipped += 1;
      if (!unreadable && !event && brokenLine === undefined) {
        unreadable = { seq: lastSeq + 1, reason: `line ${lineNo} is not a JSON audit event` };
        brokenLine = lineNo;
      }
      continue;
    }
    verifier.push(event);
    if (brokenLine === undefined && verifier.result().firstBrokenSeq !== undefined) brokenLine = lineNo;
    lastSeq = event.seq;
  }
  const start = anchor ?? { seq: 0, hash: GENESIS_HASH };
  const verdict = (verifier ?? new ChainVerifier(start)).result(options.expectHead);
  const out: FileVerdict = { ...verdict, checked: verdict.checked + skipped, anchor: start, anchored: anchored || verifier === null };
  if (unreadable) Object.assign(out, { ok: false, firstBrokenSeq: unreadable.seq, reason: unreadable.reason });
  if (!out.ok) out.line = brokenLine ?? lineNo + 1;
  return out;
}

/** Verifies one or more NDJSON files as one continuous chain, in the order given. */
export async function verifyFiles(paths: readonly string[], options: FileVerifyOptions = {}): Promise<FileVerdict> {
  const starts: Array<{ path: string; firstLine: number }> = [];
  let count = 0;
  async function* lines(): AsyncGenerator<string> {
    for (const path of paths) {
      starts.push({ path, firstLine: count + 1 });
      const rl = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
      for await (const line of rl) {
        count += 1;
        yield line;
      }
    }
  }
  const verdict = await verifyNdjson(lines(), options);
  const at = verdict.line;
  const file = at === undefined ? undefined : starts.findLast((s) => s.firstLine <= at);
  if (at !== undefined && file) Object.assign(verdict, { file: file.path, line: at - file.firstLine + 1 });
  return verdict;
}

function parseEvent(line: string): AuditEvent | null {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null;
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) return null;
  const e = value as Record<string, unknown>;
  if (!Number.isSafeInteger(e.seq) || typeof e.prevHash !== 'string' || typeof e.hash !== 'string') return null;
  if (typeof e.time !== 'string' || Number.isNaN(Date.parse(e.time))) return null;
  // Every other member is hashed as it stands: an added, removed or altered member breaks the hash.
  return e as unknown as AuditEvent;
}
