import { randomUUID } from 'node:crypto';
import formbody from '@fastify/formbody';
import auditRoutes from './audit/routes.js';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import fp from 'fastify-plugin';
import authRoutes from './auth/routes.js';
import type { Config } from './config.js';
import type { DatabaseHandle } from './db/index.js';
import lookupRoutes from './lookups/routes.js';
import { loadGatewayDocument, sharedSchema, type OpenApiDocument } from './openapi.js';
import docsRoutes from './ops/docs.js';
import opsRoutes from './ops/routes.js';
import adaptersPlugin from './plugins/adapters.js';
import auditPlugin from './plugins/audit.js';
import authPlugin from './plugins/auth.js';
import dbPlugin from './plugins/db.js';
import errorsPlugin from './plugins/errors.js';
import metricsPlugin from './plugins/metrics.js';
import rateLimitPlugin from './plugins/rate-limit.js';
import registryPlugin from './plugins/registry.js';
import adminRoutes from './registry/admin-routes.js';
import catalogRoutes from './registry/catalog-routes.js';
import { CompactRequestLog, loggerOptions } from './logging.js';

export interface BuildOptions {
  /** An open database to use instead of opening one from config (tests). */
  database?: DatabaseHandle;
  /** Apply pending migrations while building (default true). */
  migrate?: boolean;
  /** Pino options or a ready logger; default from config. */
  logger?: FastifyServerOptions['logger'] | false;
  /** Runs after the infrastructure plugins, before routes (e.g. registering builtin providers). */
  beforeRoutes?: (app: FastifyInstance) => Promise<void>;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** Builds the gateway from its plugins. Never listens: src/server.ts and the tests do that. */
export async function buildApp(config: Readonly<Config>, options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger === undefined ? loggerOptions(config) : options.logger,
    // Keep a caller's request id when it is a sane token, so both sides' logs line up.
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    requestIdHeader: false,
    bodyLimit: 256 * 1024,
    ajv: {
      customOptions: {
        // Unknown properties are refused, never silently dropped; JSON types are not coerced.
        removeAdditional: false,
        coerceTypes: false,
        useDefaults: true,
        allErrors: false,
        strict: false,
      },
    },
    return503OnClosing: true,
    logController: new CompactRequestLog(),
  });

  const doc: OpenApiDocument = loadGatewayDocument();
  app.decorate('openapi', doc);
  app.addSchema(sharedSchema(doc));
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', String(request.id));
  });

  await app.register(
    fp(
      async (instance) => {
        instance.decorate('config', config);
      },
      { name: 'config' },
    ),
  );
  await app.register(errorsPlugin);
  await app.register(formbody);
  await app.register(dbPlugin, { handle: options.database, migrate: options.migrate ?? true });
  await app.register(authPlugin);
  await app.register(auditPlugin);
  await app.register(registryPlugin);
  await app.register(adaptersPlugin);
  await app.register(rateLimitPlugin);
  await app.register(metricsPlugin);
  if (options.beforeRoutes) await options.beforeRoutes(app);

  await app.register(opsRoutes);
  await app.register(docsRoutes);
  await app.register(authRoutes);
  await app.register(lookupRoutes);
  await app.register(auditRoutes);
  await app.register(catalogRoutes);
  await app.register(adminRoutes);
  return app;
}

declare module 'fastify' {
  interface FastifyInstance {
    config: Readonly<Config>;
    openapi: OpenApiDocument;
  }
}
