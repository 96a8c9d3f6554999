import { problem } from '../errors.js';
import { startDeadline } from './deadline.js';
import { toProviderAnswer } from './protocol.js';
import type { AdapterKind } from './kinds.js';
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

function copyAsJson(value: unknown): unknown {
  try {
    return JSON.parse(JSON.stringify(value)) as unknown;
  } catch {
    return undefined;
  }
}

/** Timeout of builtin providers, which have no `timeoutMs` of their own. */
export const BUILTIN_TIMEOUT_MS = 3000;

/** `{kind: "builtin", name}`: a provider registered in this gateway's process (the demo departments). */
export const builtinAdapterKind: AdapterKind<'builtin'> = {
  kind: 'builtin',
  validate(config, context) {
    if (!context.hasBuiltin(config.name)) {
      throw problem('VALIDATION_FAILED', `body/adapter/name: no builtin provider "${config.name}" runs in this gateway`);
    }
  },
  create(config, runtime) {
    const adapter = runtime.builtins.get(config.name);
    if (!adapter) throw problem('PROVIDER_UNAVAILABLE', `builtin provider ${config.name} is not running in this gateway`);
    return { adapter, timeoutMs: BUILTIN_TIMEOUT_MS };
  },
};
