import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, type JsonWebKey, type KeyObject } from 'node:crypto';
import type { DB } from '../db/index.js';
import { insertKey, publishedKeys, retireCurrentKeys } from './repository.js';

/** A gateway signing key (Ed25519). Tokens and proofs are signed with the current one. */
export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  /** PKCS#8 PEM, the form the JWT signer takes. */
  privatePem: string;
  publicKey: KeyObject;
  publicPem: string;
  publicJwk: JsonWebKey & { kid: string; alg: 'EdDSA'; use: 'sig' };
  createdAt: Date;
  retiredAt: Date | null;
}

/**
 * The gateway's signing keys, shared by every replica through the database. A retired key stops
 * signing but stays in the JWKS until `expires_at`, so proofs it signed can still be checked.
 */
export class KeyRing {
  private keys: SigningKey[] = [];

  constructor(private readonly db: DB) {}

  /** Loads the published keys, creating the first one on a fresh database. */
  async load(): Promise<void> {
    let rows = await publishedKeys(this.db);
    if (rows.length === 0) {
      await this.insertNewKey();
      rows = await publishedKeys(this.db);
    }
    this.keys = rows.map(toSigningKey);
  }

  /** Makes a new key current; the old one is published for `keepPublishedDays` more days. */
  async rotate(keepPublishedDays: number): Promise<string> {
    const expires = new Date(Date.now() + keepPublishedDays * 86_400_000);
    await retireCurrentKeys(this.db, expires);
    const kid = await this.insertNewKey();
    await this.load();
    return kid;
  }

  get current(): SigningKey {
    const key = this.keys.find((k) => k.retiredAt === null) ?? this.keys[0];
    if (!key) throw new Error('key ring not loaded');
    return key;
  }

  byKid(kid: string | undefined): SigningKey | undefined {
    return kid === undefined ? undefined : this.keys.find((k) => k.kid === kid);
  }

  jwks(): { keys: SigningKey['publicJwk'][] } {
    return { keys: this.keys.map((k) => k.publicJwk) };
  }

  private async insertNewKey(): Promise<string> {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const kid = randomUUID();
    await insertKey(this.db, {
      kid,
      privateJwk: JSON.stringify(privateKey.export({ format: 'jwk' })),
      publicJwk: JSON.stringify(publicKey.export({ format: 'jwk' })),
    });
    return kid;
  }
}

function toSigningKey(row: {
  kid: string;
  private_jwk: Record<string, unknown>;
  public_jwk: Record<string, unknown>;
  created_at: Date;
  retired_at: Date | null;
}): SigningKey {
  const privateKey = createPrivateKey({ key: row.private_jwk as JsonWebKey, format: 'jwk' });
  const publicKey = createPublicKey({ key: row.public_jwk as JsonWebKey, format: 'jwk' });
  return {
    kid: row.kid,
    privateKey,
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey,
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    publicJwk: { ...(row.public_jwk as JsonWebKey), kid: row.kid, alg: 'EdDSA', use: 'sig' },
    createdAt: row.created_at,
    retiredAt: row.retired_at,
  };
}
