import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { ProviderTokenCache } from '../auth/token-cache.js';
import type { SigningKey } from '../keys/keyring.js';
import type { Role } from '../registry/model.js';
import { GATEWAY_AUDIENCE } from './auth.js';

/** Lifetime of the gateway's tokens to providers (openapi/provider.yaml: "about a minute"). */
const PROVIDER_TOKEN_TTL_SECONDS = 60;

/**
 * Token issuing: client access tokens (the token endpoint) and the gateway's own tokens to provider
 * departments, signed with the key ring's current key through the JWT codec plugins/auth.ts registers.
 */
async function tokensPlugin(app: FastifyInstance) {
  const { keyring, issuer } = app;

  /** A token signed with `key`: EdDSA, its kid, this gateway's `iss` and a fresh `jti`. */
  function sign(payload: object, key: SigningKey, claims: { aud: string; sub: string; expiresIn: number }): string {
    return app.jwt.sign(payload, { key: key.privatePem, algorithm: 'EdDSA', kid: key.kid, iss: issuer, jti: randomUUID(), ...claims });
  }

  function issueToken(client: { clientId: string; department: string; roles: Role[] }): { token: string; expiresIn: number } {
    const expiresIn = app.config.tokenTtlSeconds;
    const token = sign({ dept: client.department, roles: client.roles }, keyring.current, {
      aud: GATEWAY_AUDIENCE,
      sub: client.clientId,
      expiresIn,
    });
    return { token, expiresIn };
  }

  const providerTokens = new ProviderTokenCache(PROVIDER_TOKEN_TTL_SECONDS);
  /** A short-lived token the gateway presents to a provider department (aud = its code), reused for half its life. */
  function providerToken(audience: string): string {
    const key = keyring.current;
    return providerTokens.get(audience, key.kid, Date.now(), () =>
      sign({ scope: 'provider' }, key, { aud: audience, sub: 'onetrip-gateway', expiresIn: PROVIDER_TOKEN_TTL_SECONDS }),
    );
  }

  app.decorate('issueToken', issueToken);
  app.decorate('providerToken', providerToken);
}

declare module 'fastify' {
  interface FastifyInstance {
    issueToken(client: { clientId: string; department: string; roles: Role[] }): { token: string; expiresIn: number };
    providerToken(audience: string): string;
  }
}

export default fp(tokensPlugin, { name: 'tokens', fastify: '5.x', dependencies: ['config', 'keys', 'auth'] });
