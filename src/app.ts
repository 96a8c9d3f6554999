import { randomUUID } from 'node:crypto';
import formbody from '@fastify/formbody';
import { formatsPlugin } from './ajv-formats.js';
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
import keysPlugin from './plugins/keys.js';
import tokensPlugin from './plugins/tokens.js';
import dbPlugin from './plugins/db.js';
import errorsPlugin, { sendProblem } from './plugins/errors.js';
import inputPlugin, { gatewayFormats } from './plugins/input.js';
import metricsPlugin from './plugins/metrics.js';
import objectionsPlugin from './plugins/objections.js';
import objectionRoutes from './objections/routes.js';
import rateLimitPlugin from './plugins/rate-limit.js';
import registryPlugin from './plugins/registry.js';
import unauthLimitPlugin from './plugins/unauth-limit.js';
import adminRoutes from './registry/admin-routes.js';
import reportRoutes from './reports/routes.js';
import catalogRoutes from './registry/catalog-routes.js';
import consentRoutes from './consents/routes.js';
import consentsPlugin from './plugins/consents.js';
import lookupsPlugin from './plugins/lookups.js';
import consoleRoutes from './console/plugin.js';
import { CompactRequestLog, logDestination, loggerOptions, requestLogger } from './logging.js';
import { problem } from './errors.js';

export interface BuildOptions {
  /** An open database to use instead of opening one from config (tests). */
  database?: DatabaseHandle;
  /** Apply pending migrations while building (default true). */
  migrate?: boolean;
  /** Pino options or a ready logger; default from config. */
  logger?: FastifyServerOptions['logger'] | false;
  /** Runs after the infrastructure plugins, before routes (e.g. registering builtin providers). */
  beforeRoutes?: (app: FastifyInstance) => Promise<void>;
  /** The wall clock of time-based rules (covert disclosure, objections); tests move it. */
  clock?: () => Date;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** Builds the gateway from its plugins. Never listens: src/server.ts and the tests do that. */
export async function buildApp(config: Readonly<Config>, options: BuildOptions = {}): Promise<FastifyInstance> {
  // The gateway's own destination (buffered, flushed on close and exit) unless given a logger.
  const logOutput = options.logger === undefined ? logDestination() : null;
  const app = Fastify({
    logger: logOutput ? { ...(loggerOptions(config) as object), stream: logOutput.stream } : options.logger,
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
      // ajv-formats first, then the gateway's stricter date and date-time (src/plugins/input.ts).
      plugins: [formatsPlugin, gatewayFormats],
    },
    // Requests refused while closing get a problem+json 503 from the onRequest hook below instead.
    return503OnClosing: false,
    // Malformed percent-encoding and over-long path parameters never reach a route: answer them as
    // problem+json with the request id, never echoing the path (where a personal id may sit).
    frameworkErrors: (error, request, reply) => {
      const tooLong = error.code === 'FST_ERR_MAX_PARAM_LENGTH';
      const err = problem(
        'VALIDATION_FAILED',
        tooLong ? 'a path parameter is longer than the gateway accepts' : 'the request URL is malformed',
        {
          ...(tooLong ? { status: 414 } : {}),
        },
      );
      reply.header('x-request-id', String(request.id));
      void sendProblem(reply, request, err);
    },
    // request.ip is the client named in X-Forwarded-For only when the peer is a listed proxy (TRUST_PROXY).
    trustProxy: config.trustProxy.length > 0 ? config.trustProxy : false,
    logController: new CompactRequestLog(),
    childLoggerFactory: requestLogger,
  });

  const doc: OpenApiDocument = loadGatewayDocument();
  app.decorate('openapi', doc);
  app.addSchema(sharedSchema(doc));
  // The global hooks here and in src/plugins/* are plain callbacks, not async functions: a
  // promise and a microtask per hook and request added up (issue 12).
  // Closing (SIGTERM): requests already in flight complete and their events are flushed; a request
  // that still arrives (on a busy keep-alive connection, pipelined) is refused with problem+json
  // NOT_READY before any handler, token check or audit write runs, and its connection is closed.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', (request, reply, done) => {
    // Every answer carries its request id: set as the request arrives (the first hook of every
    // route and of the not-found handler; an error answer keeps it), not in an onSend hook.
    reply.header('x-request-id', String(request.id));
    if (!closing) return done();
    reply.header('connection', 'close').header('retry-after', '1');
    // Answered here: `done` is not called, so nothing after this hook runs.
    void sendProblem(
      reply,
      request,
      problem('NOT_READY', 'the gateway is shutting down; retry shortly (another replica may answer)', { headers: { 'retry-after': '1' } }),
    );
  });
  // server.close() only closes the connections idle at that moment: one that falls idle after its
  // in-flight answer is closed at once, instead of holding the shutdown open for its keep-alive timeout.
  app.addHook('onResponse', (_request, _reply, done) => {
    if (closing) setImmediate(() => app.server.closeIdleConnections());
    done();
  });
  if (logOutput) app.addHook('onClose', async () => logOutput.flush());

  await app.register(
    fp(
      async (instance) => {
        instance.decorate('config', config);
      },
      { name: 'config' },
    ),
  );
  await app.register(
    fp(
      async (instance) => {
        instance.decorate('clock', options.clock ?? (() => new Date()));
      },
      { name: 'clock' },
    ),
  );
  await app.register(errorsPlugin);
  await app.register(inputPlugin);
  await app.register(formbody);
  await app.register(dbPlugin, { database: options.database, migrate: options.migrate ?? true });
  await app.register(keysPlugin);
  await app.register(authPlugin);
  await app.register(tokensPlugin);
  await app.register(auditPlugin);
  await app.register(objectionsPlugin);
  await app.register(registryPlugin);
  await app.register(adaptersPlugin);
  await app.register(rateLimitPlugin);
  await app.register(unauthLimitPlugin);
  await app.register(metricsPlugin);
  await app.register(consentsPlugin);
  await app.register(lookupsPlugin);
  if (options.beforeRoutes) await options.beforeRoutes(app);

  await app.register(opsRoutes);
  await app.register(docsRoutes);
  await app.register(consoleRoutes);
  await app.register(authRoutes);
  await app.register(lookupRoutes);
  await app.register(auditRoutes);
  await app.register(catalogRoutes);
  await app.register(adminRoutes);
  await app.register(consentRoutes);
  await app.register(objectionRoutes);
  await app.register(reportRoutes);
  return app;
}

declare module 'fastify' {
  interface FastifyInstance {
    config: Readonly<Config>;
    openapi: OpenApiDocument;
    /** Now, as time-based rules see it (BuildOptions.clock). */
    clock: () => Date;
  }
}
