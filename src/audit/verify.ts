import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { sql } from 'kysely';
import type { DB } from '../db/index.js';
import { isPlainObject } from '../json.js';
import { ChainVerifier, GENESIS_HASH, type ChainPoint, type ChainVerdict } from './chain.js';
import { CHECKPOINT_JWS_TYPE, checkpointPayload, latestCheckpoint, listCheckpoints, type Checkpoint } from './checkpoints.js';
import type { AuditEvent } from './event.js';
import { scanEvents } from './query.js';
import { readChainHead } from './repository.js';

export interface DatabaseVerdict extends ChainVerdict {
  /** Where the check started: genesis (seq 0), or the last archived event. */
  anchor: ChainPoint;
  /** The latest signed checkpoint, which the head must not be behind. */
  latestCheckpoint: { seq: number; hash: string; time: string } | null;
}

/**
 * Recomputes the chain from the anchor to the stored head, streaming in seq order by keyset pages
 * (never the whole table in memory). Events written while it runs lie past the head it read and are
 * left for the next check.
 */
export async function verifyDatabase(db: DB, options: { pageSize?: number } = {}): Promise<DatabaseVerdict> {
  // The latest checkpoint is read before the head: the head only moves forward, so a head read
  // after it that is behind it was moved back (a cut tail), never a checkpoint written meanwhile.
  const latest = await latestCheckpoint(db);
  const head = await readChainHead(db);
  const latestCheckpointOut = latest ? { seq: latest.seq, hash: latest.hash, time: latest.time } : null;
  const checkpoints = new Map((await listCheckpoints(db, { after: head.anchor.seq, upTo: head.seq })).map((c) => [c.seq, c.hash]));
  const verifier = new ChainVerifier(head.anchor);
  let mismatch: { seq: number; reason: string } | null = null;
  const pages = scanEvents(db, {}, { afterSeq: head.anchor.seq, upToSeq: head.seq, pageSize: options.pageSize ?? 2000 });
  for await (const page of pages) {
    for (const event of page) {
      verifier.push(event);
      const signed = checkpoints.get(Number(event.seq));
      if (!mismatch && signed !== undefined && signed !== event.hash) {
        mismatch = {
          seq: Number(event.seq),
          reason: `the event at seq ${event.seq} does not match the signed checkpoint at that seq: the chain was rewritten`,
        };
      }
    }
  }
  const verdict = verifier.result({ seq: head.seq, hash: head.hash });
  const out = { ...verdict, anchor: head.anchor, latestCheckpoint: latestCheckpointOut };
  if (!verdict.ok) return out;
  if (latest && latest.seq > head.seq) {
    return {
      ...out,
      ok: false,
      firstBrokenSeq: head.seq + 1,
      reason: `the chain head (seq ${head.seq}) is behind the latest signed checkpoint (seq ${latest.seq}): events ${head.seq + 1}..${latest.seq} were cut from the end`,
    };
  }
  if (mismatch) return { ...out, ok: false, firstBrokenSeq: mismatch.seq, reason: mismatch.reason };
  const stray = await strayEvent(db);
  if (stray) return { ...out, ok: false, firstBrokenSeq: stray.seq, reason: stray.reason };
  return out;
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
        reason:
          seq <= head.anchor.seq
            ? `event ${seq} lies at or before the archive anchor ${head.anchor.seq}`
            : `event ${seq} lies past the chain head ${head.seq}`,
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
  /** The problem is at the end: events missing after the file's last line (head or checkpoint ahead). */
  atEnd?: boolean;
  /** Signed checkpoints that lay within the file and matched its events. */
  checkpointsMatched?: number;
}

export interface FileVerifyOptions {
  /** Where the file must start (e.g. the anchor an archive was cut at). */
  anchor?: ChainPoint;
  /** Where it must end (e.g. `head` from GET /v1/audit/verify); catches events cut off the end. */
  expectHead?: ChainPoint;
  /** Signed checkpoints kept by the auditor: each within the file must match its event, none may lie past its end. */
  checkpoints?: readonly Checkpoint[];
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
  const checkpoints = new Map((options.checkpoints ?? []).map((c) => [c.seq, c.hash]));
  let matched = 0;
  let mismatch: { seq: number; line: number } | null = null;
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
    const signed = checkpoints.get(Number(event.seq));
    if (signed !== undefined && brokenLine === undefined) {
      if (signed === event.hash) matched += 1;
      else if (!mismatch) mismatch = { seq: Number(event.seq), line: lineNo };
    }
    lastSeq = event.seq;
  }
  const start = anchor ?? { seq: 0, hash: GENESIS_HASH };
  const verdict = (verifier ?? new ChainVerifier(start)).result();
  const out: FileVerdict = { ...verdict, checked: verdict.checked + skipped, anchor: start, anchored: anchored || verifier === null };
  if (options.expectHead) out.head = options.expectHead;
  if (unreadable) Object.assign(out, { ok: false, firstBrokenSeq: unreadable.seq, reason: unreadable.reason });
  if (!out.ok) {
    out.line = brokenLine ?? lineNo + 1;
    return out;
  }
  if (options.checkpoints) out.checkpointsMatched = matched;
  const end = verdict.head;
  if (mismatch) {
    return Object.assign(out, {
      ok: false,
      firstBrokenSeq: mismatch.seq,
      line: mismatch.line,
      reason: `the event at seq ${mismatch.seq} does not match the signed checkpoint at that seq`,
    });
  }
  const head = options.expectHead;
  if (head && head.seq > end.seq)
    return endProblem(
      out,
      end.seq,
      `the file ends at seq ${end.seq} but the head says ${head.seq}: ${missing(end.seq + 1, head.seq)} missing at the end`,
    );
  if (head && head.seq < end.seq)
    return endProblem(out, head.seq + 1, `the file goes on past the head (seq ${head.seq}) to seq ${end.seq}`);
  if (head && head.hash !== end.hash)
    return endProblem(out, end.seq, `the file ends at seq ${end.seq} as the head does, but with another hash`);
  const lastSigned = Math.max(0, ...checkpoints.keys());
  if (lastSigned > end.seq) {
    return endProblem(
      out,
      end.seq + 1,
      `the file ends at seq ${end.seq} but a signed checkpoint says ${lastSigned}: ${missing(end.seq + 1, lastSigned)} missing at the end`,
    );
  }
  return out;
}

function missing(from: number, to: number): string {
  return from === to ? `event ${from} is` : `events ${from}..${to} are`;
}

function endProblem(out: FileVerdict, firstBrokenSeq: number, reason: string): FileVerdict {
  return Object.assign(out, { ok: false, firstBrokenSeq, reason, atEnd: true });
}

/**
 * Reads an NDJSON file of checkpoints (as GET /v1/audit/checkpoints lists them). Each one's JWS
 * must carry the seq and hash it is listed with; the signature itself is checked against a JWKS
 * when one is given to the CLI.
 */
export async function readCheckpointsFile(file: string): Promise<Checkpoint[]> {
  const out: Checkpoint[] = [];
  let lineNo = 0;
  for await (const line of createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity })) {
    lineNo += 1;
    if (line.trim() === '') continue;
    let c: Checkpoint;
    try {
      c = JSON.parse(line) as Checkpoint;
    } catch {
      throw new Error(`${file} line ${lineNo} is not a JSON checkpoint`);
    }
    const payload = typeof c.jws === 'string' ? checkpointPayload(c.jws) : null;
    if (
      !Number.isSafeInteger(c.seq) ||
      typeof c.hash !== 'string' ||
      !payload ||
      payload.seq !== c.seq ||
      payload.hash !== c.hash ||
      payload.typ !== CHECKPOINT_JWS_TYPE
    ) {
      throw new Error(`${file} line ${lineNo}: not a checkpoint whose JWS (${CHECKPOINT_JWS_TYPE}) carries its seq and hash`);
    }
    out.push(c);
  }
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
  return isChainable(value) ? value : null;
}

/**
 * The members the chain walk reads are of the right type. Every other member is hashed as it
 * stands: an added, removed or altered member breaks the hash.
 */
function isChainable(value: unknown): value is AuditEvent {
  if (!isPlainObject(value)) return false;
  const { seq, prevHash, hash, time } = value;
  return (
    Number.isSafeInteger(seq) &&
    typeof prevHash === 'string' &&
    typeof hash === 'string' &&
    typeof time === 'string' &&
    !Number.isNaN(Date.parse(time))
  );
}
