import type { FastifyInstance } from 'fastify';
import { problem } from '../errors.js';
import { problems, ref } from '../openapi.js';
import { readiness } from './repository.js';

export default async function opsRoutes(app: FastifyInstance) {
  const open = { rateLimit: false } as const;

  app.get('/healthz', { config: open, schema: { response: { 200: ref('Health') } } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { config: open, schema: { response: { 200: ref('Health'), ...problems(503) } } }, async () => {
    const { database, migrations } = await readiness(app.db, app.dbReady);
    if (database !== 'ok' || migrations !== 'ok') {
      throw problem('NOT_READY', `database ${database}, migrations ${migrations}`);
    }
    return { status: 'ready', checks: { database, migrations } };
  });

  app.get('/.well-known/jwks.json', { config: open, schema: { response: { 200: ref('Jwks') } } }, async (_request, reply) => {
    reply.header('cache-control', 'public, max-age=300');
    return app.keyring.jwks();
  });
}
