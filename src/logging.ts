import { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import type { Bindings, ChildLoggerOptions } from 'fastify/types/logger.js';
import pino from 'pino';
import type { Config } from './config.js';

/**
 * Structured logs that never carry a credential or a personal id: authorization headers,
 * cookies, secrets, tokens and any `subject`/`applicant` id are censored wherever they appear
 * in a logged object. Request bodies are never logged.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  '*.authorization',
  'client_secret',
  '*.client_secret',
  'clientSecret',
  '*.clientSecret',
  'access_token',
  '*.access_token',
  'token',
  '*.token',
  'secret',
  '*.secret',
  'subject.id',
  '*.subject.id',
  'applicant.id',
  '*.applicant.id',
  'id_number',
];

export function loggerOptions(config: Pick<Config, 'logLevel'>): FastifyServerOptions['logger'] {
  return {
    level: config.logLevel,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
}

/** Log output is written in chunks of at least this many bytes (about twenty request lines)... */
const LOG_BUFFER_BYTES = 4096;
/** ...and at least this often, so that a quiet gateway's lines still show up at once. */
const LOG_FLUSH_MS = 250;

/**
 * The gateway's own log destination: stdout, written asynchronously in chunks of LOG_BUFFER_BYTES
 * or every LOG_FLUSH_MS, instead of one write per line (a write per request was ~5 % of a loaded
 * gateway's CPU, issue 12). No line is lost on a clean shutdown: `flush` (run when the app closes)
 * writes what is buffered synchronously, and pino flushes it synchronously on process exit too.
 */
export function logDestination(): { stream: pino.DestinationStream; flush(): void } {
  const stream = pino.destination({ dest: 1, sync: false, minLength: LOG_BUFFER_BYTES, periodicFlush: LOG_FLUSH_MS });
  return {
    stream,
    flush() {
      try {
        stream.flushSync();
      } catch {
        // Already closed, or a write still in progress: the exit handler flushes what is left.
      }
    },
  };
}

/** Per parent logger, a child made with pino's own API from which request loggers are copied. */
const requestTemplates = new WeakMap<FastifyBaseLogger, FastifyBaseLogger>();
const { chindingsSym } = pino.symbols;

/**
 * Fastify's `childLoggerFactory`: each request's logger, with its `reqId` binding, as pino's own
 * `child` makes it, but without running the redaction paths over the request id (a token of
 * [A-Za-z0-9._:-] or a UUID, src/app.ts), which cost ~1 % of a loaded gateway's CPU (issue 12). What
 * the request's logger writes is redacted as before; route options (a level) take pino's way.
 */
export function requestLogger(logger: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger {
  const parent = logger as FastifyBaseLogger & { [chindingsSym]?: unknown };
  if (typeof parent[chindingsSym] !== 'string' || Object.keys(options).length > 0) return logger.child(bindings, options);
  let extra = '';
  for (const key in bindings) {
    const value: unknown = bindings[key];
    if (typeof value !== 'string') return logger.child(bindings, options);
    extra += `,${JSON.stringify(key)}:${JSON.stringify(value)}`;
  }
  let template = requestTemplates.get(logger);
  if (template === undefined) {
    template = logger.child({});
    requestTemplates.set(logger, template);
  }
  const inherited = (template as FastifyBaseLogger & { [chindingsSym]?: unknown })[chindingsSym];
  if (typeof inherited !== 'string') return logger.child(bindings, options);
  const child = Object.create(template) as FastifyBaseLogger & { [chindingsSym]: string };
  child[chindingsSym] = inherited + extra;
  return child;
}

/**
 * One compact line per answered request instead of Fastify's two (incoming, then completed, each
 * serialising the request and reply objects): request logging was ~5 % of a loaded gateway's CPU
 * (issue 12). The incoming line is still there at `debug`; errors are logged as Fastify does.
 */
export class CompactRequestLog extends LogController {
  /** Per root logger, a child without redaction: the completed line's members are never secret. */
  private readonly plain = new WeakMap<FastifyBaseLogger, FastifyBaseLogger>();

  override incomingRequest(request: FastifyRequest): void {
    if (enabled(request.log, 'debug')) request.log.debug({ method: request.method, url: request.url }, 'incoming request');
  }

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
    metadata?: Record<string, unknown>,
  ): void {
    if (error) return super.requestCompleted(error, request, reply, metadata);
    // The request's own logger decides (a route may log at another level); the line is written by
    // the root logger's unredacted child with the same reqId, byte for byte what the request's
    // logger would write, without running the redaction paths over four plain values (issue 12).
    if (!enabled(reply.log, 'info')) return;
    this.plainLogger(request.server.log).info(
      {
        reqId: request.id,
        method: request.method,
        url: request.url,
        statusCode: reply.statusCode,
        responseTime: Math.round(reply.elapsedTime * 10) / 10,
      },
      'request completed',
    );
  }

  private plainLogger(root: FastifyBaseLogger): FastifyBaseLogger {
    let plain = this.plain.get(root);
    if (plain === undefined) {
      plain = root.child({}, { redact: { paths: [] } } as Parameters<FastifyBaseLogger['child']>[1]);
      this.plain.set(root, plain);
    }
    return plain;
  }
}

/** Whether `log` writes `level` (pino's isLevelEnabled; a logger without it is assumed to). */
function enabled(log: FastifyBaseLogger, level: string): boolean {
  const check = (log as { isLevelEnabled?: (level: string) => boolean }).isLevelEnabled;
  return check === undefined || check.call(log, level);
}
