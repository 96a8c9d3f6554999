import { EventEmitter } from 'node:events';
import { problem } from '../errors.js';
import type { AppError } from '../errors.js';

/** Marks a call the caller abandoned: it says nothing about the provider's health. */
export class CallCancelledError extends Error {
  constructor(reason: unknown) {
    super('the caller cancelled the provider call', { cause: reason });
    this.name = 'CallCancelledError';
  }
}

/**
 * A call's cancellation signal as undici takes it: `aborted`, `reason` and an `abort` event. An
 * EventEmitter, not an AbortSignal: making an AbortSignal (an EventTarget) and listening on it
 * cost ~5 and ~6 µs per call on Node 20, about 3 % of a lookup (issue 12).
 */
export class DeadlineSignal extends EventEmitter {
  aborted = false;
  reason: unknown = undefined;
}

/** One provider call's time budget, shared by every stage of the call (queue, connect, headers, body). */
export interface Deadline {
  /** Aborted when the budget runs out or the caller cancels; pass it to everything that waits. */
  readonly signal: DeadlineSignal;
  /** The error to report once `signal` has aborted: PROVIDER_TIMEOUT, or PROVIDER_ERROR for a cancelled call. */
  failure(): AppError | undefined;
  /** Settles with `work`, or rejects with `failure()` the moment the deadline passes. */
  race<T>(work: Promise<T>): Promise<T>;
  /** Stops the timer; call it in `finally`. */
  dispose(): void;
}

export function startDeadline(provider: string, timeoutMs: number, callerSignal?: AbortSignal): Deadline {
  return new CallDeadline(provider, timeoutMs, callerSignal);
}

/**
 * A class rather than a set of closures, one timer, and one abort promise that every `race` shares:
 * a provider call made several closures, event listeners and promises here (issue 12).
 */
class CallDeadline implements Deadline {
  readonly signal = new DeadlineSignal();
  private failed: AppError | undefined;
  private readonly timer: NodeJS.Timeout;
  /** Rejects with `failed` once the deadline passes; made by the first `race`. */
  private aborted: Promise<never> | undefined;
  private rejectAborted: ((err: AppError) => void) | undefined;

  constructor(
    private readonly provider: string,
    private readonly timeoutMs: number,
    private readonly callerSignal: AbortSignal | undefined,
  ) {
    this.timer = setTimeout(expire, timeoutMs, this);
    // The deadline is its own listener (handleEvent): no closure per call.
    if (callerSignal?.aborted === true) this.handleEvent();
    else callerSignal?.addEventListener('abort', this, { once: true });
  }

  failure(): AppError | undefined {
    return this.failed;
  }

  /** The caller's signal aborted. */
  handleEvent(): void {
    this.fail(
      problem('PROVIDER_ERROR', `the call to provider ${this.provider} was cancelled`, {
        cause: new CallCancelledError(this.callerSignal?.reason),
      }),
    );
  }

  timedOut(): void {
    this.fail(problem('PROVIDER_TIMEOUT', `provider ${this.provider} did not answer within ${this.timeoutMs} ms`));
  }

  private fail(err: AppError): void {
    if (this.failed !== undefined) return;
    this.failed = err;
    this.rejectAborted?.(err);
    this.signal.aborted = true;
    this.signal.reason = err;
    this.signal.emit('abort');
  }

  race<T>(work: Promise<T>): Promise<T> {
    // The losing side may still reject later; that must not become an unhandled rejection.
    work.catch(noop);
    if (this.failed !== undefined) return Promise.reject(this.failed);
    if (this.aborted === undefined) {
      this.aborted = new Promise<never>((_resolve, reject) => {
        this.rejectAborted = reject;
      });
      this.aborted.catch(noop);
    }
    return Promise.race([work, this.aborted]);
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.callerSignal?.removeEventListener('abort', this);
  }
}

function expire(deadline: CallDeadline): void {
  deadline.timedOut();
}

function noop(): void {}
