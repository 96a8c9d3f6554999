import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

/** What the consent flow needs from the app (issue 15): its time-to-live and its clock. */
export interface ConsentSettings {
  /** CONSENT_TTL_HOURS: how long a request waits for the subject, and an approval for its use. */
  ttlHours: number;
  /**
   * The clock every consent decision reads (expiry, decision and use times). Replaceable, like
   * `audit.writer`: tests move it forward to see a consent expire.
   */
  now: () => Date;
}

async function consentsPlugin(app: FastifyInstance) {
  const settings: ConsentSettings = { ttlHours: app.config.consentTtlHours, now: () => new Date() };
  app.decorate('consents', settings);
}

declare module 'fastify' {
  interface FastifyInstance {
    consents: ConsentSettings;
  }
}

export default fp(consentsPlugin, { name: 'consents', fastify: '5.x', dependencies: ['config'] });
