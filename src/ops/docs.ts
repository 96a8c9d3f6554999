import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, RouteOptions } from 'fastify';

/** Where the interactive reference lives; @fastify/swagger-ui adds its assets under `${DOCS_PREFIX}/*`. */
export const DOCS_PREFIX = '/docs';

/**
 * Publishes the contract: `GET /openapi.json` (openapi/gateway.yaml as JSON, the very document the
 * routes validate against, with `servers` naming this gateway) and `GET /docs`, a Swagger UI whose script, styles and fonts all come from
 * the @fastify/swagger-ui package — no CDN, so the reference works on a closed government network.
 * None of it counts against a client's quota.
 */
export default async function docsRoutes(app: FastifyInstance) {
  // The document as served names this gateway (its issuer: PUBLIC_URL or the one its replicas share),
  // so "Try it out" and generated clients reach it on whatever host and port it runs.
  const served = { ...app.openapi, servers: [{ url: app.issuer, description: 'This gateway' }] };
  app.get(
    '/openapi.json',
    {
      config: { rateLimit: false },
      schema: { response: { 200: { type: 'object', additionalProperties: true } } },
    },
    async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=300');
      return served;
    },
  );

  await app.register(async (ui) => {
    ui.addHook('onRoute', exemptFromQuota);
    // Static mode: the UI shows gateway.yaml as written, never a document derived from the routes.
    await ui.register(swagger, { mode: 'static', specification: { document: served as never } });
    await ui.register(swaggerUi, {
      routePrefix: DOCS_PREFIX,
      // No "validate at validator.swagger.io" badge: the page makes no request outside the gateway.
      validatorUrl: false,
      uiConfig: { deepLinking: true, docExpansion: 'list', persistAuthorization: false },
      theme: { title: 'onetrip API reference' },
    });
  });
}

/**
 * @fastify/swagger-ui takes no per-route config, and the global quota's onRoute hook (registered
 * at the root, so it runs before this one) has already attached its preHandler. The UI routes are
 * given no preHandler of their own (no `uiHooks`), so any they carry here is the quota's: drop it,
 * and mark the route as exempt like every other public ops route.
 */
function exemptFromQuota(route: RouteOptions) {
  route.config = { ...route.config, rateLimit: false };
  route.preHandler = undefined;
}
