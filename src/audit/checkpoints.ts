import { CompactSign, decodeProtectedHeader } from 'jose';
import type { DB } from '../db/index.js';
import type { SigningKey } from '../keys/keyring.js';
import type { ChainPoint } from './chain.js';

/**
 * Signed checkpoints (signed tree heads, as in Certificate Transparency): every so many events or
 * seconds the gateway signs the chain head {seq, hash, time, iss}. Auditors keep copies outside the
 * database; a chain whose head is behind a checkpoint, or whose event at a checkpoint's seq has
 * another hash, has been cut or rewritten even if it verifies on its own.
 */
export interface Checkpoint {
  seq: number;
  hash: string;
  /** When it was signed (ISO 8601, UTC, milliseconds). */
  time: string;
  /** Compact JWS, EdDSA, `typ: onetrip-checkpoint+jws`, over {seq, hash, time, iss}. */
  jws: string;
}

export const CHECKPOINT_JWS_TYPE = 'onetrip-checkpoint+jws';

export interface CheckpointPolicy {
  /** AUDIT_CHECKPOINT_EVENTS: a checkpoint at least every this many events. */
  everyEvents: number;
  /** AUDIT_CHECKPOINT_SECONDS: and at least this often while events arrive. */
  everySeconds: number;
}

export async function signCheckpoint(key: SigningKey, issuer: string, head: ChainPoint, time: string): Promise<string> {
  const payload = { seq: head.seq, hash: head.hash, time, iss: issuer };
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'EdDSA', kid: key.kid, typ: CHECKPOINT_JWS_TYPE })
    .sign(key.privateKey);
}

/** The payload of a checkpoint's JWS, unverified (the CLI checks it matches the listed seq and hash). */
export function checkpointPayload(jws: string): { seq?: unknown; hash?: unknown; time?: unknown; iss?: unknown; typ?: unknown } | null {
  const parts = jws.split('.');
  if (parts.length !== 3) return null;
  try {
    const payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
    return { ...payload, typ: decodeProtectedHeader(jws).typ };
  } catch {
    return null;
  }
}

function fromRow(row: { seq: number | string; hash: string; time: Date | string; jws: string }): Checkpoint {
  return { seq: Number(row.seq), hash: row.hash, time: new Date(row.time).toISOString(), jws: row.jws };
}

export async function latestCheckpoint(db: DB): Promise<Checkpoint | null> {
  const row = await db.selectFrom('audit_checkpoints').selectAll().orderBy('seq', 'desc').limit(1).executeTakeFirst();
  return row ? fromRow(row) : null;
}

/** Checkpoints with after < seq (<= upTo), oldest first. */
export async function listCheckpoints(db: DB, options: { after: number; upTo?: number; limit?: number }): Promise<Checkpoint[]> {
  let q = db.selectFrom('audit_checkpoints').selectAll().where('seq', '>', options.after);
  if (options.upTo !== undefined) q = q.where('seq', '<=', options.upTo);
  if (options.limit !== undefined) q = q.limit(options.limit);
  return (await q.orderBy('seq', 'asc').execute()).map(fromRow);
}

async function insertCheckpoint(trx: DB, c: Checkpoint): Promise<void> {
  await trx.insertInto('audit_checkpoints').values(c).execute();
}

/**
 * Writes checkpoints from inside the audit writer's batch transaction, under the chain-head lock:
 * the lock serialises every replica's batches, so the latest checkpoint read there is the latest
 * there is, and exactly one replica writes each one. `due` is a cheap, possibly stale guess used
 * to send a batch down the locked path; it errs towards "due" (a stale view is never newer than
 * the database), so a checkpoint is never skipped, only occasionally looked for in vain.
 */
export class Checkpointer {
  /** The latest checkpoint this replica knows of (null: unknown). */
  private last: { seq: number; at: number } | null = null;

  constructor(
    private readonly policy: CheckpointPolicy,
    private readonly sign: (head: ChainPoint, time: string) => Promise<string>,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether a batch that ends the chain at `seq` should be written under the lock. */
  due(seq: number): boolean {
    return this.dueAfter(this.last, seq);
  }

  /** In the batch transaction, after its events and the head are written. */
  async afterChained(trx: DB, head: ChainPoint): Promise<void> {
    if (!this.due(head.seq)) return;
    const latest = await latestCheckpoint(trx);
    this.last = latest ? { seq: latest.seq, at: Date.parse(latest.time) } : { seq: 0, at: Number.NEGATIVE_INFINITY };
    if (!this.dueAfter(this.last, head.seq)) return;
    const at = this.now();
    const time = new Date(at).toISOString();
    await insertCheckpoint(trx, { seq: head.seq, hash: head.hash, time, jws: await this.sign(head, time) });
    this.last = { seq: head.seq, at };
  }

  /** The batch did not commit: what this replica believed may not have been written. */
  forget(): void {
    this.last = null;
  }

  private dueAfter(last: { seq: number; at: number } | null, seq: number): boolean {
    if (!last) return true;
    if (seq <= last.seq) return false;
    return seq - last.seq >= this.policy.everyEvents || this.now() - last.at >= this.policy.everySeconds * 1000;
  }
}
