import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ErrorCode, ProblemBody } from '../errors.js';

/** Where clients get tokens; named once for the route and the discovery document. */
export const TOKEN_PATH = '/v1/auth/token';
export const JWKS_PATH = '/.well-known/jwks.json';

/**
 * RFC 8414 authorization-server metadata, so OAuth libraries (openid-client, oauth4webapi) find the
 * token endpoint from the issuer alone. Only the client-credentials grant exists here: no
 * authorization endpoint, hence no response types.
 */
export function authorizationServerMetadata(issuer: string) {
  return {
    issuer,
    token_endpoint: `${issuer}${TOKEN_PATH}`,
    jwks_uri: `${issuer}${JWKS_PATH}`,
    grant_types_supported: ['client_credentials'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    response_types_supported: [] as string[],
    service_documentation: `${issuer}/docs`,
  };
}

/** RFC 6749 §5.2 `error` for each problem the token endpoint can answer (5.2 has no code for 429/503). */
function oauthError(code: ErrorCode, body: unknown): string {
  switch (code) {
    case 'UNAUTHENTICATED':
      return 'invalid_client';
    case 'VALIDATION_FAILED': {
      const grantType = body && typeof body === 'object' ? (body as Record<string, unknown>).grant_type : undefined;
      return typeof grantType === 'string' && grantType !== 'client_credentials' ? 'unsupported_grant_type' : 'invalid_request';
    }
    case 'RATE_LIMITED':
    case 'NOT_READY':
    case 'AUDIT_UNAVAILABLE':
      return 'temporarily_unavailable';
    default:
      return 'server_error';
  }
}

/**
 * The token endpoint answers OAuth clients in their terms (contract, "Errors"): its problems are sent
 * as `application/json` with RFC 6749 §5.2 `error` / `error_description` next to the problem members,
 * and its 401s challenge with the scheme clients authenticate with (HTTP Basic, §2.3.1; the `error`
 * parameter repeats the body's for libraries that stop at the challenge). 500s stay problem+json, as on
 * every route. Called by the error handler for routes with `config.oauthErrors`, so refusals from every
 * stage (address limit, quota, body parsing, validation, handler) get the same shape.
 */
export function sendOAuthProblem(request: FastifyRequest, reply: FastifyReply, problem: ProblemBody): FastifyReply {
  const error = oauthError(problem.code, request.body);
  if (problem.status === 401) reply.header('www-authenticate', `Basic realm="onetrip", charset="UTF-8", error="${error}"`);
  return reply
    .code(problem.status)
    .type('application/json; charset=utf-8')
    .send({ ...problem, error, error_description: problem.detail });
}
