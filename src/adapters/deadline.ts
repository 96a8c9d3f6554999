import { problem } from '../errors.js';
import type { AppError } from '../errors.js';

/** Marks a call the caller abandoned: it says nothing about the provider's health. */
export class CallCancelledError extends Error {
  constructor(reason: unknown) {
    super('the caller cancelled the provider call', { cause: reason });
    this.name = 'CallCancelledError';
  }
}

/** One provider call's time budget, shared by every stage of the call (queue, connect, headers, body). */
export interface Deadline {
  /** Aborted when the budget runs out or the caller cancels; pass it to everything that waits. */
  readonly signal: AbortSignal;
  /** The error to report once `signal` has aborted: PROVIDER_TIMEOUT, or PROVIDER_ERROR for a cancelled call. */
  failure(): AppError | undefined;
  /** Settles with `work`, or rejects with `failure()` the moment the deadline passes. */
  race<T>(work: Promise<T>): Promise<T>;
  /** Stops the timer; call it in `finally`. */
  dispose(): void;
}

export function startDeadline(provider: string, timeoutMs: number, callerSignal?: AbortSignal): Deadline {
  const controller = new AbortController();
  let failed: AppError | undefined;
  const fail = (err: AppError): void => {
    if (failed !== undefined) return;
    failed = err;
    controller.abort(err);
  };
  const timer = setTimeout(() => {
    fail(problem('PROVIDER_TIMEOUT', `provider ${provider} did not answer within ${timeoutMs} ms`));
  }, timeoutMs);
  const onCallerAbort = (): void => {
    fail(
      problem('PROVIDER_ERROR', `the call to provider ${provider} was cancelled`, {
        cause: new CallCancelledError(callerSignal?.reason),
      }),
    );
  };
  if (callerSignal?.aborted === true) onCallerAbort();
  else callerSignal?.addEventListener('abort', onCallerAbort, { once: true });

  return {
    signal: controller.signal,
    failure: () => failed,
    race<T>(work: Promise<T>): Promise<T> {
      // The losing side may still reject later; that must not become an unhandled rejection.
      work.catch(() => undefined);
      return new Promise<T>((resolve, reject) => {
        const onAbort = (): void => reject(failed);
        if (controller.signal.aborted) {
          onAbort();
          return;
        }
        controller.signal.addEventListener('abort', onAbort, { once: true });
        work.then(
          (value) => {
            controller.signal.removeEventListener('abort', onAbort);
            resolve(value);
          },
          (err: unknown) => {
            controller.signal.removeEventListener('abort', onAbort);
            reject(err);
          },
        );
      });
    },
    dispose() {
      clearTimeout(timer);
      callerSignal?.removeEventListener('abort', onCallerAbort);
    },
  };
}
