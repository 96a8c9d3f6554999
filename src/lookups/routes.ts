import type { FastifyInstance } from 'fastify';
import { problems, ref } from '../openapi.js';
import { fetchOne, type FetchItem } from './flow.js';

export default async function lookupRoutes(app: FastifyInstance) {
  const consumer = app.requireRoles('consumer');

  app.post<{ Body: FetchItem }>(
    '/v1/lookups',
    {
      onRequest: consumer,
      config: { auditAction: 'lookup' },
      schema: {
        body: ref('LookupRequest'),
        response: { 200: ref('LookupResponse'), ...problems(400, 401, 403, 404, 422, 429, 502, 503, 504) },
      },
    },
    async (request) => {
      const snapshot = await app.registry.get();
      return fetchOne(app, request, snapshot, request.body, 'lookup');
    },
  );
}
