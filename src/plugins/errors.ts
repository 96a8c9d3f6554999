import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { sendOAuthProblem } from '../auth/oauth.js';
import { AppError, problem, problemBody, toAppError as toDomainAppError } from '../errors.js';

/**
 * Turns every failure into application/problem+json with a code from errors.ts. 5xx causes are
 * logged; the client sees only the code, title and a detail written for it.
 */
export function toAppError(err: FastifyError | AppError | Error): AppError {
  if (err instanceof AppError) return err;
  const fe = err as FastifyError & { validationContext?: string };
  if (fe.validation) {
    const first = fe.validation[0];
    const where = fe.validationContext ?? 'body';
    const path = first?.instancePath ? first.instancePath : '';
    const detail =
      first?.keyword === 'additionalProperties'
        ? `${where}${path} has an unknown property "${String((first.params as { additionalProperty?: string }).additionalProperty)}"`
        : `${where}${path} ${first?.message ?? 'is invalid'}`;
    return problem('VALIDATION_FAILED', detail);
  }
  if (fe.statusCode === 429) return problem('RATE_LIMITED', fe.message || 'rate limit exceeded');
  if (fe.code?.startsWith('FST_JWT') || fe.code?.startsWith('FAST_JWT')) {
    return problem('UNAUTHENTICATED', 'missing, malformed, expired or untrusted bearer token');
  }
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
    // Body parsing, content type, payload size: the request itself is malformed.
    if (fe.statusCode === 404) return problem('NOT_FOUND', fe.message);
    return problem('VALIDATION_FAILED', fe.message || 'malformed request');
  }
  return toDomainAppError(err);
}

export function sendProblem(reply: FastifyReply, request: FastifyRequest, err: AppError) {
  for (const [k, v] of Object.entries(err.headers)) reply.header(k, v);
  if (request.routeOptions.config?.oauthErrors && err.status !== 500)
    return sendOAuthProblem(request, reply, problemBody(err, String(request.id)));
  // RFC 6750 §3: a 401 names the scheme it wants.
  if (err.status === 401) reply.header('www-authenticate', 'Bearer realm="onetrip", error="invalid_token"');
  return reply
    .code(err.status)
    .type('application/problem+json')
    .send(problemBody(err, String(request.id)));
}

async function errorsPlugin(app: FastifyInstance) {
  app.setErrorHandler(async (error: FastifyError, request, reply) => {
    const appError = toAppError(error);
    if (appError.status >= 500) {
      request.log.error({ err: appError.cause ?? error, code: appError.code }, appError.message);
    } else {
      request.log.info({ code: appError.code, detail: appError.message }, 'request refused');
    }
    try {
      await app.onProblem(request, appError);
    } catch (auditError) {
      // A refusal that cannot be audited is answered as such (AUDIT_UNAVAILABLE), never as a 500.
      return sendProblem(reply, request, toAppError(auditError as Error));
    }
    return sendProblem(reply, request, appError);
  });

  app.setNotFoundHandler(async (request, reply) => {
    // The path is not echoed: a caller may have put a personal id in it.
    return sendProblem(reply, request, problem('NOT_FOUND', `no ${request.method} route matches this path`));
  });

  // Hooks that other plugins register to see refusals (the audit plugin records denials).
  const listeners: Array<(request: FastifyRequest, err: AppError) => Promise<void>> = [];
  app.decorate('onProblem', async (request: FastifyRequest, err: AppError) => {
    for (const l of listeners) await l(request, err);
  });
  app.decorate('addProblemListener', (l: (request: FastifyRequest, err: AppError) => Promise<void>) => {
    listeners.push(l);
  });
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Refusals are OAuth token-endpoint errors (RFC 6749 §5.2) as well as problems: src/auth/oauth.ts. */
    oauthErrors?: boolean;
  }
  interface FastifyInstance {
    onProblem(request: FastifyRequest, err: AppError): Promise<void>;
    addProblemListener(listener: (request: FastifyRequest, err: AppError) => Promise<void>): void;
  }
}

export default fp(errorsPlugin, { name: 'errors', fastify: '5.x' });
