import { randomUUID } from 'node:crypto';
import fastifyJwt, { type TokenOrHeader } from '@fastify/jwt';
import type { FastifyInstance, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import fp from 'fastify-plugin';
import { resolveIssuer } from '../auth/issuer.js';
import { ProviderTokenCache, VerifiedTokenCache } from '../auth/token-cache.js';
import { problem } from '../errors.js';
import { KeyRing } from '../keys/keyring.js';
import type { Role } from '../registry/model.js';

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

/** How often each replica reloads the signing keys from the database. */
const KEY_REFRESH_MS = 60_000;
/** Least time between two reloads caused by a token with an unknown kid. */
const KEY_MISS_RELOAD_MS = 5_000;
/** Verified access tokens kept (about 1 kB each). */
const VERIFIED_TOKENS_MAX = 10_000;
/** Lifetime of the gateway's tokens to providers (openapi/provider.yaml: "about a minute"). */
const PROVIDER_TOKEN_TTL_SECONDS = 60;

const BEARER = /^Bearer\s+(\S+)$/i;

/** The token of an `Authorization: Bearer` header: the one string both verified and cached. */
function bearerToken(request: FastifyRequest): string {
  return BEARER.exec(request.headers.authorization ?? '')?.[1] ?? '';
}

interface ClientStatus {
  active: boolean;
  checkedAt: number;
}

async function authPlugin(app: FastifyInstance) {
  const keyring = new KeyRing(app.db);
  await keyring.load();
  // Another replica (or `npm run cli -- keys rotate`) may rotate the keys: reload them now and then,
  // so this replica signs with the current key and publishes and accepts the new one.
  const keyRefresh = setInterval(() => {
    keyring.load().catch((err: unknown) => app.log.warn({ err }, 'reloading the signing keys failed; keeping the loaded ones'));
  }, KEY_REFRESH_MS);
  keyRefresh.unref();
  app.addHook('onClose', async () => clearInterval(keyRefresh));
  // A token signed by a replica that has just rotated carries a kid this one has not loaded yet:
  // reload at once rather than refuse it until the next refresh, but at most every few seconds,
  // so made-up kids cannot turn into a query per request.
  let lastMissReload = 0;
  async function reloadForUnknownKid(kid: string | undefined) {
    if (kid === undefined || Date.now() - lastMissReload < KEY_MISS_RELOAD_MS) return undefined;
    lastMissReload = Date.now();
    await keyring.load().catch((err: unknown) => app.log.warn({ err }, 'reloading the signing keys failed'));
    return keyring.byKid(kid);
  }
  const { issuer, source } = await resolveIssuer(app.db, {
    publicUrl: app.config.publicUrl,
    publicUrlConfigured: app.config.publicUrlConfigured,
    sharedDatabase: app.config.databaseUrl !== null,
  });
  app.log.info({ issuer, source }, 'token and proof issuer');
  app.decorate('issuer', issuer);

  await app.register(fastifyJwt, {
    secret: {
      private: keyring.current.privatePem,
      // Verification picks the key by kid; an unknown kid is untrusted (RFC 8725 §3.1: the key, not the token, decides).
      public: async (_request: FastifyRequest, token: TokenOrHeader) => {
        const header = 'header' in token ? token.header : token;
        const key = keyring.byKid(header.kid) ?? (await reloadForUnknownKid(header.kid));
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
    const row = await app.db.selectFrom('clients').select('revoked_at').where('client_id', '=', clientId).executeTakeFirst();
    const active = row !== undefined && row.revoked_at === null;
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

  function issueToken(client: { clientId: string; department: string; roles: Role[] }): { token: string; expiresIn: number } {
    const key = keyring.current;
    const token = app.jwt.sign(
      { dept: client.department, roles: client.roles },
      {
        key: key.privatePem,
        algorithm: 'EdDSA',
        kid: key.kid,
        iss: issuer,
        aud: GATEWAY_AUDIENCE,
        sub: client.clientId,
        jti: randomUUID(),
        expiresIn: app.config.tokenTtlSeconds,
      },
    );
    return { token, expiresIn: app.config.tokenTtlSeconds };
  }

  const providerTokens = new ProviderTokenCache(PROVIDER_TOKEN_TTL_SECONDS);
  /** A short-lived token the gateway presents to a provider department (aud = its code), reused for half its life. */
  function providerToken(audience: string): string {
    const key = keyring.current;
    return providerTokens.get(audience, key.kid, Date.now(), () => mintProviderToken(audience, key));
  }

  function mintProviderToken(audience: string, key: KeyRing['current']): string {
    return app.jwt.sign(
      { scope: 'provider' },
      {
        key: key.privatePem,
        algorithm: 'EdDSA',
        kid: key.kid,
        iss: issuer,
        aud: audience,
        sub: 'onetrip-gateway',
        jti: randomUUID(),
        expiresIn: PROVIDER_TOKEN_TTL_SECONDS,
      },
    );
  }

  app.decorate('keyring', keyring);
  app.decorate('authenticate', authenticate);
  app.decorate('requireRoles', requireRoles);
  app.decorate('issueToken', issueToken);
  app.decorate('providerToken', providerToken);
  app.decorateRequest('principal', null);
  app.decorate('forgetClientStatus', (clientId: string) => statusCache.delete(clientId));
}

declare module 'fastify' {
  interface FastifyInstance {
    keyring: KeyRing;
    /** `iss` of this gateway's tokens and proofs, shared by all replicas (src/auth/issuer.ts). */
    issuer: string;
    authenticate(request: FastifyRequest): Promise<Principal>;
    requireRoles(...roles: Role[]): onRequestAsyncHookHandler;
    issueToken(client: { clientId: string; department: string; roles: Role[] }): { token: string; expiresIn: number };
    providerToken(audience: string): string;
    forgetClientStatus(clientId: string): void;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export default fp(authPlugin, { name: 'auth', fastify: '5.x', dependencies: ['config', 'db'] });
