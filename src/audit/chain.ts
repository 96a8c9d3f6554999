import { hash } from 'node:crypto';
import { canonicalJson } from './canonical.js';
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
  return hashBody(event.prevHash, canonicalEventJson(normalise(event)));
}

function hashBody(prevHash: string, body: string): string {
  // One one-shot hash over the preassembled input: the same bytes as prevHash, '\n', body in three
  // updates (crypto.hash, Node >= 20.12, skips the Hash object: ~0.8 us less per event, issue 12).
  return hash('sha256', `${prevHash}\n${body}`, 'hex');
}

/**
 * RFC 8785 canonical JSON of one event, the same bytes as `canonicalize(event)`. An event's own
 * members are strings, finite numbers, null and string arrays, for which JSON.stringify already
 * writes what RFC 8785 prescribes; only nested objects (`detail`) need the full serialiser.
 * test/audit/chain.test.ts holds the two byte-identical over arbitrary events.
 */
export function canonicalEventJson(event: Record<string, unknown>): string {
  let out = '';
  for (const key of Object.keys(event).sort()) {
    const value = event[key];
    if (value === undefined) continue;
    out += `${out ? ',' : ''}${JSON.stringify(key)}:${isFlat(value) ? JSON.stringify(value) : canonicalJson(value)}`;
  }
  return `{${out}}`;
}

function isFlat(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return true;
  if (!Array.isArray(value)) return false;
  for (let i = 0; i < value.length; i++) if (typeof value[i] !== 'string') return false;
  return true;
}

/** An ISO 8601 UTC time as Date#toISOString writes it, with a day every month has. */
const ISO_TIME = /^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|1\d|2[0-8])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}Z$/;

/** A time as it reads back from the database (timestamptz, ISO 8601 UTC with milliseconds). */
function isoTime(time: string | Date): string {
  return typeof time === 'string' && ISO_TIME.test(time) ? time : new Date(time).toISOString();
}

/** Values as they survive a round trip through the database and JSON (e.g. Date → ISO string). */
function normalise(event: Omit<AuditEvent, 'hash'>): Omit<AuditEvent, 'hash'> {
  const out = { ...event, time: isoTime(event.time), detail: event.detail ?? null };
  if (event.discloseAt !== undefined) out.discloseAt = isoTime(event.discloseAt);
  return out;
}

/** A member that JSON.stringify writes as RFC 8785 does: a string, finite number, boolean or null. */
function scalar(v: unknown): boolean {
  return v === null || v === undefined || (typeof v !== 'object' && typeof v !== 'function');
}

/**
 * The canonical JSON of an event built by `chainBatch`: one JSON.stringify of an object whose keys
 * are already in RFC 8785 order (UTF-16 code units). JSON.stringify keeps the insertion order of
 * non-index keys and skips undefined members, as canonicalize does. An event with a nested member
 * (`detail`, or anything but scalars and a string array elsewhere) goes through the full serialiser.
 */
function chainedEventJson(e: AuditEvent): string {
  if (
    e.detail !== null ||
    !isFlat(e.fields) ||
    !(
      scalar(e.action) &&
      scalar(e.caseId) &&
      scalar(e.clientId) &&
      scalar(e.consumer) &&
      scalar(e.covert) &&
      scalar(e.discloseAt) &&
      scalar(e.errorCode) &&
      scalar(e.id) &&
      scalar(e.latencyMs) &&
      scalar(e.officer) &&
      scalar(e.outcome) &&
      scalar(e.provider) &&
      scalar(e.purpose) &&
      scalar(e.recordDigest) &&
      scalar(e.requestId) &&
      scalar(e.subjectHmac) &&
      scalar(e.subjectKind) &&
      scalar(e.subjectMasked) &&
      scalar(e.type)
    )
  ) {
    return canonicalEventJson(withoutHash(e));
  }
  return JSON.stringify({
    action: e.action,
    caseId: e.caseId,
    clientId: e.clientId,
    consumer: e.consumer,
    covert: e.covert,
    detail: null,
    discloseAt: e.discloseAt,
    errorCode: e.errorCode,
    fields: e.fields,
    id: e.id,
    latencyMs: e.latencyMs,
    officer: e.officer,
    outcome: e.outcome,
    prevHash: e.prevHash,
    provider: e.provider,
    purpose: e.purpose,
    recordDigest: e.recordDigest,
    requestId: e.requestId,
    seq: e.seq,
    subjectHmac: e.subjectHmac,
    subjectKind: e.subjectKind,
    subjectMasked: e.subjectMasked,
    time: e.time,
    type: e.type,
  });
}

/** A chained batch: its events, and the same events as one JSON array for the database. */
export interface ChainedBatch {
  events: AuditEvent[];
  /**
   * `[{"hash":…,<the canonical JSON hashed>},…]`: each event's members (camelCase) serialised
   * once, for the hash and for the INSERT alike (src/audit/repository.ts `appendEvents`).
   */
  json: string;
}

/**
 * Extends the chain from `head` with `inputs`, in order. Each event has exactly the members of
 * AuditEvent (what the database stores and reads back), normalised as they read back.
 */
export function chainBatch(head: ChainPoint, inputs: readonly AuditEventInput[]): ChainedBatch {
  const events: AuditEvent[] = new Array<AuditEvent>(inputs.length);
  let json = '[';
  let seq = head.seq;
  let prevHash = head.hash;
  for (let i = 0; i < inputs.length; i++) {
    const input = inputs[i]!;
    seq += 1;
    const event: AuditEvent = {
      id: input.id,
      time: isoTime(input.time),
      requestId: input.requestId,
      consumer: input.consumer,
      clientId: input.clientId,
      officer: input.officer,
      action: input.action,
      type: input.type,
      provider: input.provider,
      subjectKind: input.subjectKind,
      subjectHmac: input.subjectHmac,
      subjectMasked: input.subjectMasked,
      purpose: input.purpose,
      caseId: input.caseId,
      fields: input.fields,
      outcome: input.outcome,
      errorCode: input.errorCode,
      latencyMs: input.latencyMs,
      recordDigest: input.recordDigest,
      detail: input.detail ?? null,
      seq,
      prevHash,
      hash: '',
    };
    if (input.covert !== undefined) event.covert = input.covert;
    if (input.discloseAt !== undefined) event.discloseAt = isoTime(input.discloseAt);
    const body = chainedEventJson(event);
    event.hash = hashBody(prevHash, body);
    json += `${i > 0 ? ',' : ''}{"hash":"${event.hash}",${body.slice(1)}`;
    events[i] = event;
    prevHash = event.hash;
  }
  return { events, json: `${json}]` };
}

/** Extends the chain from `head` with `inputs`, in order. */
export function chainEvents(head: ChainPoint, inputs: readonly AuditEventInput[]): AuditEvent[] {
  return chainBatch(head, inputs).events;
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
