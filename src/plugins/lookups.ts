import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Caller } from '../lookups/deps.js';
import type { Principal } from './auth.js';
import { createLookups, type Lookups } from '../lookups/service.js';

/**
 * The lookup service (src/lookups/service.ts), created once over what it needs from the app. The
 * members that tests or benches replace on the app (an audit `record`, the consent clock, the
 * keyring's current key) are read through the app's objects when used, never copied.
 */
async function lookupsPlugin(app: FastifyInstance) {
  const lookups = createLookups({
    registry: app.registry,
    adapters: app.adapters,
    audit: {
      record: (caller, facts) => app.audit.record(caller, facts),
      describeSubject: (subject) => app.audit.describeSubject(subject),
      describeParsed: (subject, parsed) => app.audit.describeParsed(subject, parsed),
    },
    signer: { keyring: app.keyring, issuer: app.issuer },
    clock: () => app.clock(),
    consents: { db: app.db, settings: app.consents },
    disputes: app.objections.disputes,
    verifyBudget: { db: app.db, perDay: app.config.verifyBudgetPerDay, inFlight: new Map<string, number>() },
    metrics: app.metrics,
  });
  app.decorate('lookups', lookups);
}

/** The flow's view of an authenticated request (its route has checked the principal). */
export function callerOf(request: FastifyRequest): Caller {
  const principal = request.principal;
  if (!principal) throw new Error('callerOf: the route did not authenticate the request');
  return new RequestCaller(request, principal);
}

/** A class, so that a caller costs one object per request rather than an object and a closure. */
class RequestCaller implements Caller {
  readonly requestId: string;
  readonly log: FastifyRequest['log'];
  readonly startedAt: number;

  constructor(
    private readonly request: FastifyRequest,
    readonly principal: Principal,
  ) {
    this.requestId = String(request.id);
    this.log = request.log;
    this.startedAt = request.startedAt;
  }

  markAudited(): void {
    this.request.auditRecorded = true;
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    lookups: Lookups;
  }
}

export default fp(lookupsPlugin, {
  name: 'lookups',
  fastify: '5.x',
  dependencies: ['config', 'clock', 'db', 'keys', 'auth', 'audit', 'objections', 'registry', 'adapters', 'metrics', 'consents'],
});
