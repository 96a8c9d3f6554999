import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { resolveIssuer } from '../auth/issuer.js';
import { KeyRing, type SigningKey } from '../keys/keyring.js';

/** How often each replica reloads the signing keys from the database. */
const KEY_REFRESH_MS = 60_000;
/** Least time between two reloads caused by a token with an unknown kid. */
const KEY_MISS_RELOAD_MS = 5_000;

/**
 * Key management: the signing keys every replica shares (src/keys/keyring.ts), kept current, and the
 * issuer (`iss`) of the gateway's tokens and proofs. Verifying requests is plugins/auth.ts's job,
 * signing tokens plugins/tokens.ts's.
 */
async function keysPlugin(app: FastifyInstance) {
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

  app.decorate('keyring', keyring);
  app.decorate('issuer', issuer);
  app.decorate('reloadKeysForKid', reloadForUnknownKid);
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The signing keys; `keyring.jwks()` is what /.well-known/jwks.json publishes. */
    keyring: KeyRing;
    /** `iss` of this gateway's tokens and proofs, shared by all replicas (src/auth/issuer.ts). */
    issuer: string;
    /** For a kid the key ring does not know: reloads the keys (at most every few seconds) and returns its key if now known. */
    reloadKeysForKid(kid: string | undefined): Promise<SigningKey | undefined>;
  }
}

export default fp(keysPlugin, { name: 'keys', fastify: '5.x', dependencies: ['config', 'db'] });
