import type { SubjectKind } from '../registry/model.js';

/** What the gateway sends to a provider (openapi/provider.yaml, ProviderRequest). */
export interface ProviderRequest {
  type: string;
  subject: { kind: SubjectKind; id: string };
  fields: string[];
  purpose: string;
  caseId: string;
  requestId: string;
}

/** What a provider answers. `record` is validated against the type's schema by the caller. */
export type ProviderAnswer = { found: true; record: Record<string, unknown> } | { found: false };

/**
 * How the gateway reaches one provider department.
 * Implementations throw `AppError` with PROVIDER_ERROR, PROVIDER_BAD_RESPONSE,
 * PROVIDER_TIMEOUT or PROVIDER_UNAVAILABLE; they never leak the upstream body.
 */
export interface ProviderAdapter {
  call(request: ProviderRequest, context: ProviderCallContext): Promise<ProviderAnswer>;
}

export interface ProviderCallContext {
  provider: string;
  timeoutMs: number;
  signal?: AbortSignal;
  /**
   * The caller's check of an answer (the type's schema); throws PROVIDER_BAD_RESPONSE. An adapter
   * with a circuit breaker runs it inside the breaker, so a provider that keeps answering garbage
   * opens its circuit like one that keeps failing.
   */
  check?: (answer: ProviderAnswer) => void;
}
