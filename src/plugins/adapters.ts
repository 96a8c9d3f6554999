import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { parseAllowedHosts, type AllowedHostRules } from '../adapters/allowed-hosts.js';
import { createBuiltinAdapter, type BuiltinAnswer } from '../adapters/builtin.js';
import { createHttpAdapters, type CircuitStateName } from '../adapters/http.js';
import { createAdapter } from '../adapters/kinds.js';
import type { ProviderAdapter } from '../adapters/types.js';
import { AppError } from '../errors.js';
import type { AdapterConfig } from '../registry/model.js';

export interface Adapters {
  allowedHosts: AllowedHostRules;
  /** Registers an in-process provider under `name` (adapter `{kind: "builtin", name}`). */
  registerBuiltin(name: string, answer: BuiltinAnswer): void;
  hasBuiltin(name: string): boolean;
  /** The adapter for a type's configuration and the timeout that applies to it. */
  resolve(config: AdapterConfig): { adapter: ProviderAdapter; timeoutMs: number };
  /** The provider's circuit now; builtin providers have none and are always "closed". */
  circuitState(provider: string): CircuitStateName;
  /** Called after every provider call (metrics): `outcome` is ok, not_found or the error code. */
  onCall(listener: ProviderCallListener): void;
}

export type ProviderCallListener = (info: { provider: string; outcome: string; seconds: number }) => void;

async function adaptersPlugin(app: FastifyInstance) {
  const allowedHosts = parseAllowedHosts(app.config.adapterAllowedHosts, app.config.adapterAllowedPorts, [app.config.port]);
  // PORT=0 (tests) listens on a port chosen at start: refuse that one too, once known.
  app.addHook('onListen', async () => {
    const address = app.server.address();
    if (address && typeof address === 'object') allowedHosts.ownPorts.add(address.port);
  });
  const http = createHttpAdapters({
    allowedHosts,
    signToken: (audience) => app.providerToken(audience),
    maxResponseBytes: app.config.providerMaxResponseBytes,
    maxConcurrentPerProvider: app.config.providerMaxConcurrent,
    maxQueuedPerProvider: app.config.providerMaxConcurrent * 2,
    breaker: { consecutiveFailures: app.config.providerBreakerFailures, halfOpenAfterMs: app.config.providerBreakerHalfOpenMs },
    logger: app.log,
  });
  const builtins = new Map<string, ProviderAdapter>();
  const callListeners: ProviderCallListener[] = [];
  const notify = (provider: string, outcome: string, started: number) => {
    const info = { provider, outcome, seconds: (performance.now() - started) / 1000 };
    for (const l of callListeners) {
      try {
        l(info);
      } catch (err) {
        // A metrics listener must never turn a provider's answer into a failure.
        app.log.warn({ err }, 'provider call listener failed');
      }
    }
  };
  // Times each call for the listeners; one closure per call, nothing when nobody listens.
  const observed = (adapter: ProviderAdapter): ProviderAdapter =>
    callListeners.length === 0
      ? adapter
      : {
          call: async (request, context) => {
            const started = performance.now();
            try {
              const answer = await adapter.call(request, context);
              notify(context.provider, answer.found ? 'ok' : 'not_found', started);
              return answer;
            } catch (err) {
              notify(context.provider, err instanceof AppError ? err.code : 'unknown', started);
              throw err;
            }
          },
        };

  const resolvedHttp = new WeakMap<AdapterConfig, { resolved: { adapter: ProviderAdapter; timeoutMs: number }; listeners: number }>();

  const adapters: Adapters = {
    allowedHosts,
    registerBuiltin(name, answer) {
      builtins.set(name, createBuiltinAdapter(answer));
    },
    hasBuiltin: (name) => builtins.has(name),
    resolve(config) {
      // An http configuration's adapter is fixed (src/adapters/http.ts builds one per URL and
      // timeout), so it is wrapped once per configuration object, not per call (issue 12). A builtin
      // is looked up on every call: one may be registered again under the same name.
      const cached = config.kind === 'http' ? resolvedHttp.get(config) : undefined;
      if (cached !== undefined && cached.listeners === callListeners.length) return cached.resolved;
      const { adapter, timeoutMs } = createAdapter(config, { http, builtins });
      const resolved = { adapter: observed(adapter), timeoutMs };
      if (config.kind === 'http') resolvedHttp.set(config, { resolved, listeners: callListeners.length });
      return resolved;
    },
    circuitState: (provider) => http.circuitState(provider),
    onCall(listener) {
      callListeners.push(listener);
    },
  };
  app.decorate('adapters', adapters);
  app.addHook('onClose', async () => http.close());
}

declare module 'fastify' {
  interface FastifyInstance {
    adapters: Adapters;
  }
}

export default fp(adaptersPlugin, { name: 'adapters', fastify: '5.x', dependencies: ['config', 'tokens'] });
