import { buildAuditEvent } from './build.js';
import type { AuditEvent, AuditEventInput } from './event.js';

/** Where summary events go: the audit writer (its `append` resolves once the event is committed). */
export interface SummarySink {
  append(input: AuditEventInput): Promise<AuditEvent>;
}

interface Entry {
  /** Refusals noted since the last summary event of this address. */
  refused: number;
  /** Time of the first of those refusals. */
  since: string;
  /** Request id of the first of those refusals, so the summary can be found next to the logs. */
  requestId: string;
  /** When the last summary event of this address was written (ms since the epoch; 0: never). */
  lastWrittenAt: number;
}

export interface RefusalSummaryOptions {
  /** The sink is looked up at write time, so a writer swapped in before the app is ready is used. */
  sink: () => SummarySink;
  logger: { warn(obj: object, msg: string): void };
  /** At most one summary event per address per this many ms (the unauthenticated-limit window). */
  intervalMs: number;
  now?: () => number;
}

/**
 * Past the per-address limits a flood is answered 429 without an audit event per request — that
 * would let anyone fill the trail (issue 10.2). Instead each address gets at most one summary event
 * (`rate.limited`) per interval, carrying how many requests were refused since the last one. The
 * first refusal is written at once, so the trail shows when a flood began; later ones are counted and
 * written by the next refusal after the interval, by the periodic sweep, or at shutdown.
 * Counts are per replica: with several replicas each writes its own summaries.
 * The address goes into `detail` only: the event has no subject, so it never reaches a citizen's
 * data tracker, and auditors need it to see where a flood came from.
 */
export class RefusalSummary {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;
  private readonly writes = new Set<Promise<unknown>>();

  constructor(private readonly options: RefusalSummaryOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Counts one refused request from `address`; writes a summary when none was written for it this interval. */
  note(address: string, requestId: string): void {
    const now = this.now();
    let entry = this.entries.get(address);
    if (!entry) {
      entry = { refused: 0, since: new Date(now).toISOString(), requestId, lastWrittenAt: 0 };
      this.entries.set(address, entry);
    }
    if (entry.refused === 0) {
      entry.since = new Date(now).toISOString();
      entry.requestId = requestId;
    }
    entry.refused += 1;
    if (now - entry.lastWrittenAt >= this.options.intervalMs) this.write(address, entry, now);
  }

  /** Writes the pending counts whose interval has passed (all of them with `force`) and forgets idle addresses. */
  sweep(force = false): void {
    const now = this.now();
    for (const [address, entry] of this.entries) {
      if (entry.refused > 0 && (force || now - entry.lastWrittenAt >= this.options.intervalMs)) this.write(address, entry, now);
      else if (entry.refused === 0 && now - entry.lastWrittenAt >= this.options.intervalMs) this.entries.delete(address);
    }
  }

  /** Resolves once every summary written so far is committed (or has failed and been logged). */
  async settled(): Promise<void> {
    await Promise.all([...this.writes]);
  }

  private write(address: string, entry: Entry, now: number): void {
    const input = buildAuditEvent(
      { requestId: entry.requestId, principal: null, startedAt: null },
      {
        action: 'rate.limited',
        outcome: 'denied',
        errorCode: 'RATE_LIMITED',
        detail: { scope: 'unauthenticated', address, refused: entry.refused, since: entry.since },
      },
      { now: new Date(now) },
    );
    entry.refused = 0;
    entry.lastWrittenAt = now;
    const done = this.options
      .sink()
      .append(input)
      .catch((err: unknown) =>
        this.options.logger.warn({ err, refused: input.detail?.refused }, 'rate-limit summary event could not be written'),
      )
      .finally(() => this.writes.delete(done));
    this.writes.add(done);
  }
}
