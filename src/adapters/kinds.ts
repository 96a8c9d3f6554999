import type { AdapterConfig } from '../registry/model.js';
import type { AllowedHostRules } from './allowed-hosts.js';
import { builtinAdapterKind } from './builtin.js';
import { httpAdapterKind } from './http.js';
import type { HttpAdapters } from './http.js';
import type { ProviderAdapter } from './types.js';

/** The registry configuration of one adapter kind, e.g. `AdapterConfigOf<'http'>`. */
export type AdapterConfigOf<K extends AdapterConfig['kind']> = Extract<AdapterConfig, { kind: K }>;

/** What a type definition's adapter is checked against at registration. */
export interface AdapterCheckContext {
  allowedHosts: AllowedHostRules;
  hasBuiltin(name: string): boolean;
}

/** What adapters are built from: the state one gateway shares between all its types. */
export interface AdapterRuntime {
  http: HttpAdapters;
  builtins: ReadonlyMap<string, ProviderAdapter>;
}

/**
 * One way of reaching a provider (`adapter.kind` in the registry). Adding a kind is adding a module
 * that exports one of these and a row in `ADAPTER_KINDS`.
 */
export interface AdapterKind<K extends AdapterConfig['kind']> {
  readonly kind: K;
  /** The admin input check; throws VALIDATION_FAILED naming the `body/adapter/...` member. */
  validate(config: AdapterConfigOf<K>, context: AdapterCheckContext): void;
  /** The adapter for one type's configuration and the timeout that applies to its calls. */
  create(config: AdapterConfigOf<K>, runtime: AdapterRuntime): { adapter: ProviderAdapter; timeoutMs: number };
}

type AdapterKinds = { readonly [K in AdapterConfig['kind']]: AdapterKind<K> };

export const ADAPTER_KINDS: AdapterKinds = {
  http: httpAdapterKind,
  builtin: builtinAdapterKind,
};

export function validateAdapter<K extends AdapterConfig['kind']>(config: AdapterConfigOf<K>, context: AdapterCheckContext): void {
  const kind: AdapterKind<K> = ADAPTER_KINDS[config.kind];
  kind.validate(config, context);
}

export function createAdapter<K extends AdapterConfig['kind']>(
  config: AdapterConfigOf<K>,
  runtime: AdapterRuntime,
): { adapter: ProviderAdapter; timeoutMs: number } {
  const kind: AdapterKind<K> = ADAPTER_KINDS[config.kind];
  return kind.create(config, runtime);
}
