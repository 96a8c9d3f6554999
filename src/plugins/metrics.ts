import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { registerCaseMetrics, type CaseMetrics } from '../reports/metrics.js';

/**
 * Prometheus metrics on GET /metrics. One registry per app instance (no global state), so tests
 * can build several gateways in one process. Labels are route patterns and codes, never ids.
 */
async function metricsPlugin(app: FastifyInstance) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'onetrip_' });

  const requests = new Histogram({
    name: 'onetrip_http_request_duration_seconds',
    help: 'HTTP requests by route pattern, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const problems = new Counter({
    name: 'onetrip_problems_total',
    help: 'Problem responses by error code',
    labelNames: ['code'] as const,
    registers: [registry],
  });
  const auditFlushes = new Histogram({
    name: 'onetrip_audit_flush_seconds',
    help: 'Group-commit flushes of the audit writer, by result',
    labelNames: ['ok'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
  const auditEvents = new Counter({
    name: 'onetrip_audit_events_total',
    help: 'Audit events handed to the writer, by whether they were committed',
    labelNames: ['ok'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'onetrip_audit_pending_events',
    help: 'Audit events waiting for a group commit',
    registers: [registry],
    collect() {
      this.set(app.audit.writer.pending);
    },
  });
  new Gauge({
    name: 'onetrip_audit_committing_events',
    help: 'Audit events in group commits under way',
    registers: [registry],
    collect() {
      this.set(app.audit.writer.committing);
    },
  });

  const caseMetrics = registerCaseMetrics(app, registry);
  app.decorate('metrics', caseMetrics);

  app.audit.writer.onFlush((info) => {
    auditFlushes.observe({ ok: String(info.ok) }, info.ms / 1000);
    auditEvents.inc({ ok: String(info.ok) }, info.events);
  });
  app.addProblemListener(async (_request, err) => {
    problems.inc({ code: err.code });
  });
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    requests.observe({ route, method: request.method, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
    done();
  });

  app.get('/metrics', { config: { rateLimit: false } }, async (_request, reply) => {
    reply.type(registry.contentType);
    return registry.metrics();
  });
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: CaseMetrics;
  }
}

export default fp(metricsPlugin, { name: 'metrics', fastify: '5.x', dependencies: ['audit', 'errors', 'adapters', 'registry'] });
