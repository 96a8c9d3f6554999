import type { DB } from '../db/index.js';
import { problem } from '../errors.js';
import { chainBatch, type ChainPoint } from './chain.js';
import type { Checkpointer } from './checkpoints.js';
import type { AuditEvent, AuditEventInput } from './event.js';
import { appendEvents, appendEventsIfHead, ensureMonthPartition, lockChainHeadDurably } from './repository.js';
import { storable } from './storable.js';

export interface AuditWriterOptions {
  /** Flush as soon as this many events wait. */
  maxEvents: number;
  /** Otherwise flush this long after the first waiting event (0: on the next tick). */
  intervalMs: number;
  logger: { error(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  /**
   * Batches under way at once (default 2). The next batch waits while the one before commits, takes
   * the events waiting the moment it has and is sent at once, so a busy event loop does not leave
   * the database idle between two flushes.
   */
  maxInFlight?: number;
  /**
   * Signed checkpoints (src/audit/checkpoints.ts), written in a batch's own transaction under the
   * chain-head lock: a batch for which one is due skips the unlocked fast path.
   */
  checkpoints?: Pick<Checkpointer, 'due' | 'afterChained' | 'forget'>;
}

/** One flush attempt: its events, whether it committed, and `ms` from taking the batch to its commit (or failure). */
export type FlushListener = (info: { events: number; ok: boolean; ms: number }) => void;

/**
 * Where audit events go. `AuditWriter` is the real one; bench/audit.ts measures the gateway with a
 * stub that resolves at once ("audit off") to price the audit trail.
 */
export interface AuditSink {
  append(input: AuditEventInput): Promise<AuditEvent>;
  readonly pending: number;
  /** Events in group commits under way. */
  readonly committing: number;
  drain(): Promise<void>;
  close(): Promise<void>;
  onFlush(listener: FlushListener): void;
}

interface Pending {
  input: AuditEventInput;
  /** When it was appended (performance.now()). */
  at: number;
  resolve(event: AuditEvent): void;
  reject(err: Error): void;
}

/**
 * Group commit: events of concurrent requests share one transaction that chains them onto the
 * head, inserts them and moves the head. `append` resolves only after COMMIT, so a caller that
 * awaits it before answering never releases data without a durable event; a batch that cannot be
 * committed rejects every one of its events with AUDIT_UNAVAILABLE, and the next batch simply tries
 * again. Usually a batch is one statement chained onto the head this writer last wrote, committed
 * only if the head is still there; otherwise (first batch, another replica wrote, a new month)
 * the batch locks the head row, reads it and chains under the lock.
 */
export class AuditWriter implements AuditSink {
  private queue: Pending[] = [];
  /** The pending flush: a timer (intervalMs > 0) or an immediate (intervalMs 0). */
  private timer: { cancel(): void } | null = null;
  private readonly inFlight = new Set<Promise<void>>();
  private committingEvents = 0;
  /**
   * The head this writer expects after the batches it has sent (null: unknown, read it under the
   * lock). A wrong guess costs a retry under the lock, never a wrong chain: the database moves the
   * head only from the head a batch was chained onto.
   */
  private expected: ChainPoint | null = null;
  /**
   * Settles once the most recently scheduled batch is committed (or has failed). The next batch chains
   * only then, on the head it left: sent at once on another connection, a batch chained on the
   * head of one still under way could reach PostgreSQL first, find the head not yet moved and
   * fail, and every batch chained on a failed one fails in turn (under continuous load most
   * batches took the locked path after a fast one that failed).
   */
  private lastWritten: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly knownMonths = new Set<string>();
  private readonly flushListeners: FlushListener[] = [];

  constructor(
    private readonly db: DB,
    private readonly options: AuditWriterOptions,
  ) {}

  append(input: AuditEventInput): Promise<AuditEvent> {
    if (this.closed) return Promise.reject(problem('AUDIT_UNAVAILABLE', 'the gateway is shutting down'));
    return new Promise<AuditEvent>((resolve, reject) => {
      this.queue.push({ input: storable(input), at: performance.now(), resolve, reject });
      this.schedule();
    });
  }

  /** Called after every flush attempt (metrics). */
  onFlush(listener: FlushListener): void {
    this.flushListeners.push(listener);
  }

  /** Number of events waiting for a flush (for metrics and shutdown). */
  get pending(): number {
    return this.queue.length;
  }

  /** Number of events in batches being committed now (for metrics). */
  get committing(): number {
    return this.committingEvents;
  }

  /** Flushes until nothing waits. */
  async drain(): Promise<void> {
    while (this.queue.length > 0 || this.inFlight.size > 0) {
      if (this.queue.length > 0 && this.inFlight.size < this.maxInFlight) void this.flushNow();
      else await Promise.race(this.inFlight);
    }
  }

  /** Stops taking events and flushes every pending one (graceful shutdown). */
  async close(): Promise<void> {
    this.closed = true;
    this.timer?.cancel();
    this.timer = null;
    await this.drain();
  }

  private get maxInFlight(): number {
    return Math.max(1, this.options.maxInFlight ?? 2);
  }

  private schedule(): void {
    // With every slot busy, the next batch starts when a running one ends.
    if (this.queue.length === 0 || this.inFlight.size >= this.maxInFlight) return;
    if (this.queue.length >= this.options.maxEvents) {
      void this.flushNow();
    } else if (!this.timer) {
      if (this.options.intervalMs === 0) {
        // "On the next tick": once the callbacks of this turn of the event loop have run, so the
        // events they append share the batch. setTimeout(0) waited 1-2 ms on the timer, which a
        // lone lookup at low load paid in full (issue 12).
        const immediate = setImmediate(() => void this.flushNow());
        this.timer = { cancel: () => clearImmediate(immediate) };
        return;
      }
      // The interval runs from the oldest waiting event: events that already waited through a
      // running flush go at once instead of waiting another interval (which would idle the gateway).
      const delay = Math.max(0, this.options.intervalMs - (performance.now() - this.queue[0]!.at));
      if (delay === 0) void this.flushNow();
      else {
        const timeout = setTimeout(() => void this.flushNow(), delay);
        this.timer = { cancel: () => clearTimeout(timeout) };
      }
    }
  }

  private flushNow(): Promise<void> {
    this.timer?.cancel();
    this.timer = null;
    if (this.queue.length === 0) return Promise.resolve();
    const flush: Promise<void> = this.write().finally(() => {
      this.inFlight.delete(flush);
      this.schedule();
    });
    this.inFlight.add(flush);
    return flush;
  }

  /**
   * One batch: waits for the batch before it to commit, then takes what waits then (up to
   * maxEvents), chains it on the head that batch left and commits it. Taken only then, not when the
   * flush was scheduled: the events that arrive while the batch before commits join this one
   * instead of waiting for the one after it (issue 12). Once committed, the next batch is let go
   * before this one's callers run on, so it is sent before their answers are written.
   */
  private async write(): Promise<void> {
    const previous = this.lastWritten;
    let written!: () => void;
    this.lastWritten = new Promise<void>((resolve) => (written = resolve));
    let batch: Pending[] = [];
    try {
      await previous;
      batch = this.queue.splice(0, this.options.maxEvents);
      if (batch.length === 0) return;
      this.committingEvents += batch.length;
      const started = performance.now();
      try {
        const events = (await this.writeIfHeadExpected(batch)) ?? (await this.writeLocked(batch));
        written();
        for (let i = 0; i < batch.length; i++) batch[i]!.resolve(events[i]!);
        this.notify({ events: batch.length, ok: true, ms: performance.now() - started });
      } catch (err) {
        this.expected = null;
        this.options.checkpoints?.forget();
        written();
        this.options.logger.error({ err, events: batch.length }, 'audit batch could not be committed; no data released');
        const failure = problem('AUDIT_UNAVAILABLE', 'the audit event could not be made durable; no data was released', { cause: err });
        for (const p of batch) p.reject(failure);
        this.notify({ events: batch.length, ok: false, ms: performance.now() - started });
      }
    } finally {
      this.committingEvents -= batch.length;
      written();
    }
  }

  /**
   * Fast path: chain onto the expected head and commit in one statement. Null when the head had
   * moved (nothing written) or is unknown. An error is not retried: the statement may have committed.
   */
  private async writeIfHeadExpected(batch: Pending[]): Promise<AuditEvent[] | null> {
    const expected = this.expected;
    if (!expected || batch.some((p) => !this.knownMonths.has(p.input.time.slice(0, 7)))) return null;
    if (this.options.checkpoints?.due(expected.seq + batch.length)) return null;
    const { events, json } = chainBatch(expected, inputsOf(batch));
    const last = events[events.length - 1]!;
    this.expected = { seq: last.seq, hash: last.hash };
    if (await appendEventsIfHead(this.db, json, events.length, expected, this.expected)) return events;
    this.expected = null;
    return null;
  }

  /** Safe path: lock the head, create a new month's partition, chain, insert, move the head. */
  private async writeLocked(batch: Pending[]): Promise<AuditEvent[]> {
    let newMonths: string[] = [];
    const events = await this.db.transaction().execute(async (trx) => {
      // synchronous_commit on, whatever the server default: COMMIT returns once the WAL is flushed.
      const head = await lockChainHeadDurably(trx);
      newMonths = await this.ensurePartitions(trx, batch);
      const { events, json } = chainBatch(head, inputsOf(batch));
      const last = events[events.length - 1]!;
      await appendEvents(trx, json, { seq: last.seq, hash: last.hash });
      await this.options.checkpoints?.afterChained(trx, { seq: last.seq, hash: last.hash });
      return events;
    });
    // Only a committed partition is known to exist.
    for (const m of newMonths) this.knownMonths.add(m);
    const last = events[events.length - 1]!;
    this.expected = { seq: last.seq, hash: last.hash };
    return events;
  }

  private notify(info: { events: number; ok: boolean; ms: number }): void {
    for (const l of this.flushListeners) {
      try {
        l(info);
      } catch (err) {
        // A metrics listener must never turn a committed batch into a failed one.
        this.options.logger.warn({ err }, 'audit flush listener failed');
      }
    }
  }

  private async ensurePartitions(trx: DB, batch: Pending[]): Promise<string[]> {
    const months = new Set<string>();
    for (const p of batch) {
      const month = p.input.time.slice(0, 7);
      if (this.knownMonths.has(month) || months.has(month)) continue;
      await ensureMonthPartition(trx, new Date(p.input.time));
      months.add(month);
    }
    return [...months];
  }
}

function inputsOf(batch: readonly Pending[]): AuditEventInput[] {
  const inputs = new Array<AuditEventInput>(batch.length);
  for (let i = 0; i < batch.length; i++) inputs[i] = batch[i]!.input;
  return inputs;
}
