import type { FastifyInstance, FastifyRequest } from 'fastify';
import { problem } from '../errors.js';
import { ref, type Schema } from '../openapi.js';
import { assertSafeText } from '../plugins/input.js';
import { findClient, listClientIds } from '../registry/repository.js';
import { authorizationServerMetadata, TOKEN_PATH } from './oauth.js';
import { verifySecret } from './secrets.js';

/** TokenRequest; every member optional here because the handler checks `grant_type` again itself. */
type TokenBody = Partial<Schema<'TokenRequest'>>;

/** RFC 6749 §2.3.1: HTTP Basic client authentication, both parts form-urlencoded. */
function basicCredentials(request: FastifyRequest): { id: string; secret: string } | null {
  const header = request.headers.authorization;
  if (!header?.toLowerCase().startsWith('basic ')) return null;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw problem('UNAUTHENTICATED', 'malformed HTTP Basic credentials');
  try {
    return {
      id: decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' ')),
      secret: decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' ')),
    };
  } catch {
    throw problem('UNAUTHENTICATED', 'malformed HTTP Basic credentials');
  }
}

/** How long the set of known client ids is reused before it is read again. */
const KNOWN_CLIENTS_MAX_AGE_MS = 5_000;
/** Token requests per minute for each known client id (and for each address sending unknown ones). */
const TOKEN_REQUESTS_PER_MINUTE = 60;

/** The client id a token request names (HTTP Basic or body), read before the body is validated. */
function namedClientId(request: FastifyRequest): string | null {
  try {
    const basic = basicCredentials(request);
    if (basic) return basic.id;
  } catch {
    return null;
  }
  const body = request.body as Record<string, unknown> | null | undefined;
  const id = body && typeof body === 'object' ? body.client_id : undefined;
  return typeof id === 'string' && id.length <= 128 ? id : null;
}

export default async function authRoutes(app: FastifyInstance) {
  // The ids of all clients, reread every few seconds: the quota key must not cost a query per request,
  // or a flood of made-up ids would turn into a flood of queries.
  let known: { ids: Set<string>; at: number } = { ids: new Set(), at: 0 };
  let loading: Promise<Set<string>> | null = null;
  const knownClientIds = async (): Promise<Set<string>> => {
    if (Date.now() - known.at < KNOWN_CLIENTS_MAX_AGE_MS) return known.ids;
    loading ??= listClientIds(app.db)
      .then((ids) => (known = { ids: new Set(ids), at: Date.now() }).ids)
      .finally(() => (loading = null));
    return loading;
  };

  // Issue 10.3: the quota is per client id, so department systems behind one proxy never share one;
  // ids nobody registered (guesses, typos, garbage) share one quota per address. It runs before the
  // body is validated, so malformed requests are counted too, and always before the slow secret check.
  const tokenQuota = {
    max: TOKEN_REQUESTS_PER_MINUTE,
    timeWindow: 60_000,
    hook: 'preValidation' as const,
    keyGenerator: async (request: FastifyRequest) => {
      const id = namedClientId(request);
      if (id !== null && (await knownClientIds()).has(id)) {
        request.tokenClientKnown = true;
        return `token-client:${id}`;
      }
      return `token-address:${request.ip}`;
    },
  };

  app.get(
    '/.well-known/oauth-authorization-server',
    { config: { rateLimit: false }, schema: { response: { 200: ref('AuthorizationServerMetadata') } } },
    async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=300');
      return authorizationServerMetadata(app.issuer);
    },
  );

  app.post<{ Body: TokenBody }>(
    TOKEN_PATH,
    {
      config: { audit: { action: 'token.issue', clientId: 'client_id' }, rateLimit: tokenQuota, oauthErrors: true },
      schema: {
        body: ref('TokenRequest'),
        response: {
          200: ref('TokenResponse'),
          400: ref('TokenError'),
          401: ref('TokenError'),
          429: ref('TokenError'),
          503: ref('TokenError'),
        },
      },
    },
    async (request, reply) => {
      const body = request.body ?? {};
      if (body.grant_type !== 'client_credentials') {
        throw problem('VALIDATION_FAILED', 'grant_type must be client_credentials');
      }
      const basic = basicCredentials(request);
      if (basic && (body.client_id || body.client_secret)) {
        throw problem('VALIDATION_FAILED', 'send client credentials either with HTTP Basic or in the body, not both');
      }
      // Header-derived text obeys the input rules too (src/plugins/input.ts checks bodies and queries).
      assertSafeText(basic, 'authorization');
      const id = basic?.id ?? body.client_id;
      const secret = basic?.secret ?? body.client_secret;
      if (!id || !secret) throw problem('UNAUTHENTICATED', 'client_id and client_secret are required');

      const client = await findClient(app.db, id);
      // Unknown and wrong secrets take the same path and time, so client ids cannot be probed.
      const ok = await verifySecret(secret, client?.secretHash ?? DUMMY_HASH);
      if (!client || !ok || client.revokedAt) {
        throw problem('UNAUTHENTICATED', client?.revokedAt && ok ? 'the client has been revoked' : 'invalid client credentials');
      }
      const { token, expiresIn } = app.issueToken(client);
      request.principal = { clientId: client.clientId, department: client.department, roles: client.roles, jti: '' };
      await app.audit.record(request, { action: 'token.issue', outcome: 'ok', detail: { roles: client.roles } });
      reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
      return { access_token: token, token_type: 'Bearer', expires_in: expiresIn };
    },
  );
}

// A hash of a random secret nobody knows: verifying against it costs what a real check costs.
const DUMMY_HASH = 'scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
