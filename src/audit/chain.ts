import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { AuditEvent, AuditEventInput } from './event.js';

/** prevHash of the first event of a fresh chain. */
export const GENESIS_HASH = '0'.repeat(64);

export interface ChainPoint {
  seq: number;
  hash: string;
}

/**
 * hash = SHA-256 over prevHash, a newline, and the RFC 8785 canonical JSON of every other member
 * of the event (seq and prevHash included), so any edit, insertion, deletion or reordering shows.
 */
export function eventHash(event: Omit<AuditEvent, 'hash'>): string {
  return hashNormalised(normalise(event));
}

function hashNormalised(event: Omit<AuditEvent, 'hash'>): string {
  const body = canonicalEventJson(event);
  return createHash('sha256').update(event.prevHash).update('\n').update(body).digest('hex');
}

/**
 * RFC 8785 canonical JSON of one event, the same bytes as `canonicalize(event)`. An event's own
 * members are strings, finite numbers, null and string arrays, for which JSON.stringify already
 * writes what RFC 8785 prescribes; only nested objects (`detail`) need the library. Hashing is on
 * every request's path and this is several times faster; test/audit/chain.test.ts holds the two
 * byte-identical over arbitrary events.
 */
export function canonicalEventJson(event: Record<string, unknown>): string {
  let out = '';
  for (const key of Object.keys(event).sort()) {
    const value = event[key];
    if (value === undefined) continue;
    const flat = value === null || typeof value !== 'object' || (Array.isArray(value) && value.every((v) => typeof v === 'string'));
    out += `${out ? ',' : ''}${JSON.stringify(key)}:${flat ? JSON.stringify(value) : canonicalize(value)}`;
  }
  return `{${out}}`;
}

/** Values as they survive a round trip through the database and JSON (e.g. Date → ISO string). */
function normalise(event: Omit<AuditEvent, 'hash'>): Omit<AuditEvent, 'hash'> {
  const out = {
    ...event,
    time: new Date(event.time).toISOString(),
    detail: event.detail ?? null,
  };
  if (event.discloseAt !== undefined) out.discloseAt = new Date(event.discloseAt).toISOString();
  return out;
}

/** Extends the chain from `head` with `inputs`, in order. */
export function chainEvents(head: ChainPoint, inputs: readonly AuditEventInput[]): AuditEvent[] {
  const out: AuditEvent[] = [];
  let prev = head;
  for (const input of inputs) {
    // Normalised once here, as it will read back from the database (no second pass in eventHash).
    const unhashed = normalise({ ...input, seq: prev.seq + 1, prevHash: prev.hash });
    const event: AuditEvent = { ...unhashed, hash: hashNormalised(unhashed) };
    out.push(event);
    prev = { seq: event.seq, hash: event.hash };
  }
  return out;
}

export interface ChainVerdict {
  ok: boolean;
  checked: number;
  head: ChainPoint;
  firstBrokenSeq?: number;
  reason?: string;
}

/**
 * Incremental verifier: feed events in seq order. It stops judging at the first break but keeps
 * counting, so a streamed export or table scan never needs to be held in memory.
 */
export class ChainVerifier {
  private prev: ChainPoint;
  private checked = 0;
  private broken: { seq: number; reason: string } | null = null;

  constructor(anchor: ChainPoint = { seq: 0, hash: GENESIS_HASH }) {
    this.prev = anchor;
  }

  push(event: AuditEvent): void {
    this.checked += 1;
    if (this.broken) return;
    const seq = Number(event.seq);
    let reason: string | null = null;
    if (seq !== this.prev.seq + 1) {
      reason = seq <= this.prev.seq ? `seq ${seq} after ${this.prev.seq}: reordered or inserted` : `seq ${this.prev.seq + 1} missing`;
    } else if (event.prevHash !== this.prev.hash) {
      reason = 'prevHash does not match the previous event';
    } else if (eventHash(withoutHash(event)) !== event.hash) {
      reason = 'content does not match its hash';
    }
    if (reason) {
      // A missing event is reported by the seq that should have been there.
      this.broken = { seq: seq > this.prev.seq + 1 ? this.prev.seq + 1 : seq, reason };
      return;
    }
    this.prev = { seq, hash: event.hash };
  }

  /** `expectedHead` (e.g. the stored chain head) catches events removed from the end. */
  result(expectedHead?: ChainPoint): ChainVerdict {
    if (!this.broken && expectedHead && (expectedHead.seq !== this.prev.seq || expectedHead.hash !== this.prev.hash)) {
      this.broken = { seq: this.prev.seq + 1, reason: `chain ends at seq ${this.prev.seq}, head is ${expectedHead.seq}` };
    }
    const verdict: ChainVerdict = { ok: this.broken === null, checked: this.checked, head: expectedHead ?? this.prev };
    if (this.broken) {
      verdict.firstBrokenSeq = this.broken.seq;
      verdict.reason = this.broken.reason;
    }
    return verdict;
  }
}

function withoutHash(event: AuditEvent): Omit<AuditEvent, 'hash'> {
  const { hash: _hash, ...rest } = event;
  return rest;
}
