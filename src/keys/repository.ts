import type { Selectable } from 'kysely';
import type { DB } from '../db/index.js';
import type { GatewayKeysTable } from '../db/schema.js';

/** The signing keys still published (not expired), newest first. */
export async function publishedKeys(db: DB): Promise<Selectable<GatewayKeysTable>[]> {
  return db
    .selectFrom('gateway_keys')
    .selectAll()
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', new Date())]))
    .orderBy('created_at', 'desc')
    .execute();
}

export async function insertKey(db: DB, key: { kid: string; privateJwk: string; publicJwk: string }): Promise<void> {
  await db.insertInto('gateway_keys').values({ kid: key.kid, private_jwk: key.privateJwk, public_jwk: key.publicJwk }).execute();
}

/** Retires the current key (it stops signing) and keeps it published until `expiresAt`. */
export async function retireCurrentKeys(db: DB, expiresAt: Date): Promise<void> {
  await db.updateTable('gateway_keys').set({ retired_at: new Date(), expires_at: expiresAt }).where('retired_at', 'is', null).execute();
}

/**
 * `gateway_secrets`: values generated or chosen once and shared by every replica through the database
 * (the issuer of replicas started without PUBLIC_URL, the audit HMAC key without AUDIT_HMAC_KEY).
 * Records `value` under `name` unless a value is recorded already (the first replica wins).
 */
export async function recordSecretIfAbsent(db: DB, name: string, value: string): Promise<void> {
  await db
    .insertInto('gateway_secrets')
    .values({ name, value })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
}

/** The value recorded under `name` (it must be recorded). */
export async function readSecret(db: DB, name: string): Promise<string> {
  const row = await db.selectFrom('gateway_secrets').select('value').where('name', '=', name).executeTakeFirstOrThrow();
  return row.value;
}
