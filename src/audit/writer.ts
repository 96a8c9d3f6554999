import { sql } from 'kysely';
import type { DB } from '../db/index.js';
import { problem } from '../errors.js';
import { chainEvents } from './chain.js';
import type { AuditEvent, AuditEventInput } from './event.js';
import { ensureMonthPartition, insertEvents, lockChainHead } from './repository.js';

export interface AuditWriterOptions {
  /** Flush as soon as this many events wait. */
  maxEvents: number;
  /** Otherwise flush this long after the first waiting event (0: on the next tick). */
  intervalMs: number;
  logger: { error(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

export type FlushListener = (info: { events: number; ok: boolean; ms: number }) => void;

interface Pending {
  input: AuditEventInput;
  resolve(event: AuditEvent): void;
  reject(err: Error): void;
}

/**
 * Group commit: events of concurrent requests share one transaction that locks the chain head,
 * chains them, inserts them and moves the head. `append` resolves only after COMMIT, so a caller
 * that awaits it before answering never releases data without a durable event.
 */
export class AuditWriter {
  private queue: Pending[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
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
      this.queue.push({ input, resolve, reject });
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

  /** Flushes until nothing waits. */
  async drain(): Promise<void> {
    while (this.queue.length > 0 || this.flushing) {
      if (this.flushing) await this.flushing;
      else await this.flushNow();
    }
  }

  /** Stops taking events and flushes every pending one (graceful shutdown). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.drain();
  }

  private schedule(): void {
    if (this.flushing) return; // the running flush picks the queue up when it ends
    if (this.queue.length >= this.options.maxEvents) {
      void this.flushNow();
    } else if (!this.timer) {
      this.timer = setTimeout(() => void this.flushNow(), this.options.intervalMs);
    }
  }

  private flushNow(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.flushing) return this.flushing;
    const batch = this.queue.splice(0, this.options.maxEvents);
    if (batch.length === 0) return Promise.resolve();
    this.flushing = this.write(batch).finally(() => {
      this.flushing = null;
      if (this.queue.length > 0) this.schedule();
    });
    return this.flushing;
  }

  private async write(batch: Pending[]): Promise<void> {
    const started = performance.now();
    let newMonths: string[] = [];
    try {
      const events = await this.db.transaction().execute(async (trx) => {
        await sql`set local synchronous_commit = on`.execute(trx);
        const head = await lockChainHead(trx);
        newMonths = await this.ensurePartitions(trx, batch);
        const chained = chainEvents(head, batch.map((p) => p.input));
        const last = chained[chained.length - 1]!;
        await insertEvents(trx, chained, { seq: last.seq, hash: last.hash });
        return chained;
      });
      // Only a committed partition is known to exist.
      for (const m of newMonths) this.knownMonths.add(m);
      events.forEach((event, i) => batch[i]!.resolve(event));
      this.notify({ events: batch.length, ok: true, ms: performance.now() - started });
    } catch (err) {
      this.options.logger.error({ err, events: batch.length }, 'audit batch could not be committed; no data released');
      const failure = problem('AUDIT_UNAVAILABLE', 'the audit event could not be made durable; no data was released', { cause: err });
      for (const p of batch) p.reject(failure);
      this.notify({ events: batch.length, ok: false, ms: performance.now() - started });
    }
  }

  private notify(info: { events: number; ok: boolean; ms: number }): void {
    for (const l of this.flushListeners) l(info);
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
