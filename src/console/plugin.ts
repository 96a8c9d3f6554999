import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';

/** Where the console lives; its assets are under `${CONSOLE_PREFIX}/`. */
export const CONSOLE_PREFIX = '/console';

/** The page, its ES modules and its styles: plain files, no build step. */
export const CONSOLE_PUBLIC_DIR = fileURLToPath(new URL('./public/', import.meta.url));

/** Apache ECharts' own browser bundle, served from the installed package (never a CDN). */
const ECHARTS_FILE = createRequire(import.meta.url).resolve('echarts/dist/echarts.min.js');

/**
 * Everything the page may load or call comes from the gateway itself: no inline script or style,
 * no third-party URL, no plugin, no <base> rewrite, forms post only here. ECharts draws on a
 * canvas and sets styles through the CSSOM, which this policy allows.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "base-uri 'none'",
  "object-src 'none'",
  "form-action 'self'",
  "frame-ancestors 'self'",
].join('; ');

/**
 * The web console for auditors and the citizen portal (issue 14): static files that call the
 * public API with a bearer token, like any other client. Its routes carry no token, take no
 * input, and are exempt from the per-client quota (`public: true`), so a busy console or a
 * flood of API calls never locks its users out of the page itself.
 */
export default async function consoleRoutes(app: FastifyInstance) {
  app.addHook('onRoute', markPublic);
  app.addHook('onSend', async (_request, reply) => {
    reply.header('content-security-policy', CONSOLE_CSP);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('cross-origin-opener-policy', 'same-origin');
  });

  await app.register(fastifyStatic, {
    root: CONSOLE_PUBLIC_DIR,
    prefix: `${CONSOLE_PREFIX}/`,
    index: ['index.html'],
    // The page is small and changes with the gateway: revalidate (ETag) instead of caching blindly.
    cacheControl: true,
    maxAge: 0,
    serveDotFiles: false,
  });

  const page = async (_request: FastifyRequest, reply: FastifyReply) => reply.type('text/html; charset=utf-8').sendFile('index.html');
  app.get(CONSOLE_PREFIX, { schema: { hide: true } }, page);
  // Its own route, not the wildcard's: the route table then prints `/console/` as a node of its own.
  app.get(`${CONSOLE_PREFIX}/`, { schema: { hide: true } }, page);

  app.get(`${CONSOLE_PREFIX}/vendor/echarts.min.js`, { schema: { hide: true } }, async (_request, reply) =>
    reply.sendFile(path.basename(ECHARTS_FILE), path.dirname(ECHARTS_FILE)),
  );
}

/**
 * Per-route facts live in the route's config (STYLE.md rule 12). The global quota's onRoute hook,
 * registered at the root, has already run for these routes and attached its preHandler: drop it,
 * as /docs does. `public: true` tells the address-based limit for unauthenticated requests that
 * this is a public page, not an anonymous API call.
 */
function markPublic(route: RouteOptions) {
  route.config = { ...route.config, rateLimit: false, public: true };
  route.preHandler = undefined;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A public page or asset: no token, no quota. */
    public?: boolean;
  }
}
