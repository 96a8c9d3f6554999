import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { CircuitStateName } from '../adapters/http.js';

/** What the cases route tells the metrics about one answered case. */
export interface CaseMetrics {
  recordCase(consumer: string, answer: { procedure: string; materials: ReadonlyArray<{ status: string; reason?: string }> }): void;
}

/** onetrip_provider_circuit_state values (documented in README and ops/prometheus/alerts.yml). */
export const CIRCUIT_STATE_VALUE: Record<CircuitStateName, number> = { closed: 0, half_open: 1, open: 2 };

/** Provider call outcomes that become label values; anything else is "unknown". */
const PROVIDER_OUTCOMES = new Set([
  'ok',
  'not_found',
  'PROVIDER_ERROR',
  'PROVIDER_BAD_RESPONSE',
  'PROVIDER_TIMEOUT',
  'PROVIDER_UNAVAILABLE',
]);
/** Reasons are codes written by the gateway; a value outside this shape never becomes a label. */
const REASON_LABEL = /^[a-z][a-z_]{0,31}$/;

/**
 * Once-only and provider series. Every label is a registry code (procedure, department) or a fixed
 * vocabulary (status, reason, outcome, one_trip): never a case, request or subject id, so the
 * number of series is bounded by the registry.
 */
export function registerCaseMetrics(app: FastifyInstance, registry: Registry): CaseMetrics {
  const cases = new Counter({
    name: 'onetrip_cases_total',
    help: 'Cases (POST /v1/cases answered 201) by procedure, consumer department and whether nothing was left to submit',
    labelNames: ['procedure', 'consumer', 'one_trip'] as const,
    registers: [registry],
  });
  const materials = new Counter({
    name: 'onetrip_case_materials_total',
    help: 'Case materials by procedure, consumer department, status (fetched, to_submit) and to-submit reason ("none" when fetched)',
    labelNames: ['procedure', 'consumer', 'status', 'reason'] as const,
    registers: [registry],
  });
  const providerCalls = new Counter({
    name: 'onetrip_provider_calls_total',
    help: 'Provider calls by provider department and outcome (ok, not_found, provider_error, provider_bad_response, provider_timeout, provider_unavailable, unknown)',
    labelNames: ['provider', 'outcome'] as const,
    registers: [registry],
  });
  const providerDuration = new Histogram({
    name: 'onetrip_provider_duration_seconds',
    help: 'Duration of provider calls by provider department, whatever their outcome',
    labelNames: ['provider'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  new Gauge({
    name: 'onetrip_provider_circuit_state',
    help: 'Circuit breaker of each provider department: 0 closed, 1 half-open, 2 open',
    labelNames: ['provider'] as const,
    registers: [registry],
    async collect() {
      const snapshot = await app.registry.get();
      const providers = new Set([...snapshot.types.values()].map((t) => t.provider));
      this.reset();
      for (const provider of providers) this.set({ provider }, CIRCUIT_STATE_VALUE[app.adapters.circuitState(provider)]);
    },
  });

  app.adapters.onCall(({ provider, outcome, seconds }) => {
    providerCalls.inc({ provider, outcome: PROVIDER_OUTCOMES.has(outcome) ? outcome.toLowerCase() : 'unknown' });
    providerDuration.observe({ provider }, seconds);
  });

  return {
    recordCase(consumer, answer) {
      const { procedure } = answer;
      let toSubmit = 0;
      for (const m of answer.materials) {
        const fetched = m.status === 'fetched';
        if (!fetched) toSubmit += 1;
        const reason = fetched ? 'none' : m.reason && REASON_LABEL.test(m.reason) ? m.reason : 'unknown';
        materials.inc({ procedure, consumer, status: fetched ? 'fetched' : 'to_submit', reason });
      }
      cases.inc({ procedure, consumer, one_trip: String(toSubmit === 0) });
    },
  };
}
