import { randomBytes } from 'node:crypto';
import { generateClientSecret, hashSecret } from '../auth/secrets.js';
import type { DB } from '../db/index.js';
import type { Role } from './model.js';
import { insertClient } from './repository.js';

/** A client as handed out: the secret exists only in this value, never in the database. */
export interface IssuedClient {
  clientId: string;
  clientSecret: string;
  department: string;
  roles: Role[];
}

/** A new client id: readable in logs and the audit trail, unguessable enough not to collide. */
export function newClientId(department: string): string {
  return `${department}-${randomBytes(6).toString('hex')}`;
}

/** Stores a new client of `department` (which must exist) and returns its one-time secret. */
export async function issueClient(db: DB, clientId: string, department: string, roles: Role[]): Promise<IssuedClient> {
  const clientSecret = generateClientSecret();
  await insertClient(db, { clientId, department, roles, secretHash: await hashSecret(clientSecret) });
  return { clientId, clientSecret, department, roles };
}
