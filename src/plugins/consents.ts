import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { ConsentSettings } from '../consents/model.js';

export type { ConsentSettings } from '../consents/model.js';

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
