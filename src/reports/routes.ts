import { problem } from '../errors.js';
import { problems, ref, type ContractApp, type Schema } from '../openapi.js';
import { onceOnlyReport, publicOnceOnlyReport, reportWindow } from './once-only.js';
import { caseCounts, providerCounts } from './repository.js';

/**
 * Once-only accountability (issue 13): the once-only and providers reports for auditors and
 * operators, and the public once-only figures (政务公开). All read the audit trail (through the
 * report_cases rollup for cases); none carries an id of a person or a case.
 */
export default async function reportRoutes(app: ContractApp) {
  const auditorOrAdmin = app.requireRoles('auditor', 'admin');
  const windowOf = (query: Schema<'ReportWindow'>) => {
    const window = reportWindow(query, new Date());
    if (!window) throw problem('VALIDATION_FAILED', 'querystring/from must be before querystring/to');
    return window;
  };
  const onceOnly = async (window: { from: Date; to: Date }) => {
    const [snapshot, rows] = await Promise.all([app.registry.get(), caseCounts(app.db, window.from, window.to)]);
    return onceOnlyReport(rows, snapshot.procedures, window);
  };

  app.get(
    '/v1/reports/once-only',
    {
      onRequest: auditorOrAdmin,
      schema: { querystring: ref('ReportWindow'), response: { 200: ref('OnceOnlyReport'), ...problems(400, 401, 403, 429, 503) } },
    },
    async (request) => onceOnly(windowOf(request.query)),
  );

  app.get(
    '/v1/reports/providers',
    {
      onRequest: auditorOrAdmin,
      schema: { querystring: ref('ReportWindow'), response: { 200: ref('ProvidersReport'), ...problems(400, 401, 403, 429, 503) } },
    },
    async (request) => {
      const window = windowOf(request.query);
      const [snapshot, rows] = await Promise.all([app.registry.get(), providerCounts(app.db, window.from, window.to)]);
      const byProvider = new Map(rows.map((r) => [r.provider, r]));
      for (const t of snapshot.types.values()) {
        if (!byProvider.has(t.provider)) {
          byProvider.set(t.provider, {
            provider: t.provider,
            calls: 0,
            ok: 0,
            notFound: 0,
            failed: 0,
            byCode: {},
            p50Ms: null,
            p95Ms: null,
          });
        }
      }
      const providers = [...byProvider.values()]
        .sort((a, b) => a.provider.localeCompare(b.provider))
        .map((p) => ({ ...p, breaker: app.adapters.circuitState(p.provider) }));
      return { providers };
    },
  );

  // One answer per replica for PUBLIC_REPORT_CACHE_SECONDS: an anonymous reader never costs more
  // than one query per replica and period, however many addresses ask.
  const ttlMs = app.config.publicReportCacheSeconds * 1000;
  let cached: { at: number; body: Promise<ReturnType<typeof publicOnceOnlyReport>> } | null = null;
  app.get(
    '/v1/public/once-only',
    {
      config: {
        // No token: the unauthenticated-request limit treats this route as public on purpose.
        public: true,
        rateLimit: {
          max: app.config.publicReportRateLimitPerMinute,
          timeWindow: 60_000,
          keyGenerator: (request) => `public-report:${request.ip}`,
        },
      },
      schema: { response: { 200: ref('PublicOnceOnlyReport'), ...problems(429, 503) } },
    },
    async (_request, reply) => {
      const now = Date.now();
      if (!cached || now - cached.at >= ttlMs) {
        const body = onceOnly(reportWindow({}, new Date(now))!).then(publicOnceOnlyReport);
        cached = { at: now, body };
        // A failed query is not kept: the next request tries again.
        body.catch(() => {
          if (cached?.body === body) cached = null;
        });
      }
      const ageSeconds = Math.floor((now - cached.at) / 1000);
      reply.header('cache-control', `public, max-age=${Math.max(0, app.config.publicReportCacheSeconds - ageSeconds)}`);
      return cached.body;
    },
  );
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Routes anyone may call without a token (e.g. the public once-only report). */
    public?: boolean;
  }
}
