import fastifyJwt, { type TokenOrHeader } from '@fastify/jwt';
import type { FastifyInstance, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import fp from 'fastify-plugin';
import { VerifiedTokenCache } from '../auth/token-cache.js';
import { problem } from '../errors.js';
import type { Role } from '../registry/model.js';
import { isClientActive } from '../registry/repository.js';

/** The authenticated caller, from a verified gateway token. */
export interface Principal {
  clientId: string;
  /** The client's department (the token's `dept` claim); `consumer` where it acts as one. */
  department: string;
  roles: Role[];
  jti: string;
}

/** Audience of tokens the gateway issues to its own clients; provider tokens carry the department code. */
export const GATEWAY_AUDIENCE = 'onetrip';

/** Verified access tokens kept (about 1 kB each). */
const VERIFIED_TOKENS_MAX = 10_000;

const BEARER = /^Bearer\s+(\S+)$/i;

/** The token of an `Authorization: Bearer` header: the one string both verified and cached. */
function bearerToken(request: FastifyRequest): string {
  return BEARER.exec(request.headers.authorization ?? '')?.[1] ?? '';
}

interface ClientStatus {
  active: boolean;
  checkedAt: number;
}

/**
 * Request authentication: verifies the Bearer token (keys from plugins/keys.ts), checks that its client
 * is not revoked, and sets `request.principal`. It registers the JWT codec plugins/tokens.ts signs with.
 */
async function authPlugin(app: FastifyInstance) {
  const { keyring, issuer } = app;

  await app.register(fastifyJwt, {
    secret: {
      private: keyring.current.privatePem,
      // Verification picks the key by kid; an unknown kid is untrusted (RFC 8725 §3.1: the key, not the token, decides).
      public: async (_request: FastifyRequest, token: TokenOrHeader) => {
        const header = 'header' in token ? token.header : token;
        const key = keyring.byKid(header.kid) ?? (await app.reloadKeysForKid(header.kid));
        if (!key) throw problem('UNAUTHENTICATED', 'token signed with an unknown key');
        return key.publicPem;
      },
    },
    // The key resolver needs the header (kid), so tokens are decoded complete.
    decode: { complete: true },
    verify: {
      algorithms: ['EdDSA'],
      allowedIss: issuer,
      allowedAud: GATEWAY_AUDIENCE,
      requiredClaims: ['iss', 'aud', 'sub', 'exp', 'jti', 'dept', 'roles'],
      extractToken: bearerToken,
    },
  });

  // Revocation must bite within seconds even though tokens are self-contained: each client's
  // status is re-read from the database at most every REVOCATION_CHECK_MS.
  const statusCache = new Map<string, ClientStatus>();
  async function clientActive(clientId: string): Promise<boolean> {
    const cached = statusCache.get(clientId);
    const now = Date.now();
    if (cached && now - cached.checkedAt < app.config.revocationCheckMs) return cached.active;
    const active = await isClientActive(app.db, clientId);
    if (statusCache.size > 10_000) statusCache.clear();
    statusCache.set(clientId, { active, checkedAt: now });
    return active;
  }

  const verifiedTokens = new VerifiedTokenCache(VERIFIED_TOKENS_MAX);
  const keyKnown = (kid: string | undefined) => keyring.byKid(kid) !== undefined;

  /** The token's claims, verified now or earlier (then only its exp and its key are checked again). */
  async function verifiedClaims(request: FastifyRequest, token: string): Promise<Record<string, unknown>> {
    const cached = verifiedTokens.get(token, Date.now(), keyKnown);
    if (cached) return cached.claims;
    const claims = await request.jwtVerify<Record<string, unknown>>();
    // Verified, so its header is well-formed JSON; its kid ties the entry to the key.
    const { kid } = JSON.parse(Buffer.from(token.slice(0, token.indexOf('.')), 'base64url').toString('utf8')) as { kid?: string };
    if (typeof claims.exp === 'number') verifiedTokens.set(token, { claims, expiresAt: claims.exp * 1000, kid });
    return claims;
  }

  async function authenticate(request: FastifyRequest): Promise<Principal> {
    if (request.principal) return request.principal;
    const token = bearerToken(request);
    if (!token) throw problem('UNAUTHENTICATED', 'a Bearer token is required (POST /v1/auth/token)');
    let claims: Record<string, unknown>;
    try {
      claims = await verifiedClaims(request, token);
    } catch (err) {
      const expired = (err as { code?: string }).code === 'FST_JWT_AUTHORIZATION_TOKEN_EXPIRED';
      throw problem('UNAUTHENTICATED', expired ? 'the token has expired' : 'the token is malformed, untrusted or not valid now', {
        cause: err,
      });
    }
    const { sub, dept, roles, jti } = claims;
    if (typeof sub !== 'string' || typeof dept !== 'string' || !Array.isArray(roles) || typeof jti !== 'string') {
      throw problem('UNAUTHENTICATED', 'the token lacks gateway claims');
    }
    if (!(await clientActive(sub))) throw problem('UNAUTHENTICATED', 'the client has been revoked');
    request.principal = { clientId: sub, department: dept, roles: roles as Role[], jti };
    return request.principal;
  }

  function requireRoles(...allowed: Role[]): onRequestAsyncHookHandler {
    return async (request) => {
      const principal = await authenticate(request);
      if (!principal.roles.some((r) => allowed.includes(r))) {
        throw problem('FORBIDDEN', `this route needs the role ${allowed.join(' or ')}`);
      }
    };
  }

  app.decorate('authenticate', authenticate);
  app.decorate('requireRoles', requireRoles);
  app.decorateRequest('principal', null);
  app.decorate('forgetClientStatus', (clientId: string) => statusCache.delete(clientId));
}

declare module 'fastify' {
  interface FastifyInstance {
    authenticate(request: FastifyRequest): Promise<Principal>;
    requireRoles(...roles: Role[]): onRequestAsyncHookHandler;
    forgetClientStatus(clientId: string): void;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export default fp(authPlugin, { name: 'auth', fastify: '5.x', dependencies: ['config', 'db', 'keys'] });
