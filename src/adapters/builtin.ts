import { problem } from '../errors.js';
import type { AppError } from '../errors.js';
import type { ProviderAdapter, ProviderAnswer, ProviderRequest } from './types.js';

/** The function behind an in-process (demo) provider department. */
export type BuiltinAnswer = (request: ProviderRequest) => Promise<ProviderAnswer> | ProviderAnswer;

/**
 * An in-process provider. It keeps the provider contract of the `http` adapter: the same
 * timeout (a slow builtin still yields PROVIDER_TIMEOUT), the same envelope check, and the
 * record is copied as if it had crossed the wire, so callers can never mutate a builtin's data.
 */
export function createBuiltinAdapter(answer: BuiltinAnswer): ProviderAdapter {
  return {
    async call(request, context) {
      const deadline = startDeadline(context.provider, context.timeoutMs, context.signal);
      try {
        const work = Promise.resolve()
          .then(() => answer(request))
          .catch((err: unknown) => {
            throw problem('PROVIDER_ERROR', `builtin provider ${context.provider} failed`, { cause: err });
          });
        const value = await deadline.race(work);
        const answered = toProviderAnswer(copyAsJson(value));
        if (answered === undefined) {
          throw problem('PROVIDER_BAD_RESPONSE', `builtin provider ${context.provider} answered outside the provider protocol`);
        }
        return answered;
      } finally {
        deadline.dispose();
      }
    },
  };
}

/**
 * Reads a provider envelope: `{found: true, record: {...}}` or `{found: false}`. Anything else
 * (including `found: false` with a record) is outside the protocol and yields undefined.
 * Other top-level members are ignored so that providers can add diagnostics without breaking us.
 */
export function toProviderAnswer(value: unknown): ProviderAnswer | undefined {
  if (!isPlainObject(value)) return undefined;
  if (value.found === true && isPlainObject(value.record)) return { found: true, record: value.record };
  if (value.found === false && !('record' in value)) return { found: false };
  return undefined;
}

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
    fail(problem('PROVIDER_ERROR', `the call to provider ${provider} was cancelled`, {
      cause: new CallCancelledError(callerSignal?.reason),
    }));
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

function copyAsJson(value: unknown): unknown {
  try {
    return JSON.parse(JSON.stringify(value)) as unknown;
  } catch {
    return undefined;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
