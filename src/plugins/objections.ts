import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { DisputeIndex } from '../objections/disputes.js';
import { openSubjectId, sealSubjectId } from '../objections/seal.js';

/** How stale a replica's view of other replicas' new objections may be (README, "Objections"). */
export const DISPUTE_COUNTS_TTL_MS = 5000;

export interface Objections {
  /** Whether a release carries `disputed: true`. */
  disputes: DisputeIndex;
  /** Seals / opens the raw subject id an objection keeps for its provider department. */
  seal(objectionId: string, id: string): string;
  open(objectionId: string, sealed: string): string;
}

async function objectionsPlugin(app: FastifyInstance) {
  // Derived from the audit HMAC key: set AUDIT_HMAC_KEY from a secret store and the sealed ids in
  // the database are unreadable without it, like the subject HMACs are unsearchable.
  const key = app.audit.deriveKey('onetrip objection subject id v1');
  const objections: Objections = {
    disputes: new DisputeIndex(app.db, DISPUTE_COUNTS_TTL_MS),
    seal: (objectionId, id) => sealSubjectId(key, objectionId, id),
    open: (objectionId, sealed) => openSubjectId(key, objectionId, sealed),
  };
  app.decorate('objections', objections);
}

declare module 'fastify' {
  interface FastifyInstance {
    objections: Objections;
  }
}

export default fp(objectionsPlugin, { name: 'objections', fastify: '5.x', dependencies: ['db', 'audit'] });
