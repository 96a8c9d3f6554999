import type { FastifyInstance, FastifyReply } from 'fastify';
import { problems, ref } from '../openapi.js';
import { callerOf } from '../plugins/lookups.js';
import type { BatchRequest } from './batch.js';
import type { CaseRequest } from './cases.js';
import type { FetchItem } from './flow.js';
import type { Answer } from './service.js';
import type { VerificationRequest } from './verify.js';

/** The consumer API: lookups, batches, verifications, procedures and cases (gateway.yaml, tags lookups and cases). */
export default async function lookupRoutes(app: FastifyInstance) {
  const consumer = app.requireRoles('consumer');

  app.post<{ Body: FetchItem }>(
    '/v1/lookups',
    {
      onRequest: consumer,
      config: { audit: { action: 'lookup', subject: 'subject', type: 'type', purpose: 'purpose', caseId: 'caseId', officer: 'officer' } },
      schema: {
        body: ref('LookupRequest'),
        response: { 200: ref('LookupResponse'), 202: ref('ConsentPending'), ...problems(400, 401, 403, 404, 422, 429, 502, 503, 504) },
      },
    },
    async (request, reply) => send(reply, await app.lookups.lookup(callerOf(request), request.body)),
  );

  app.post<{ Body: BatchRequest }>(
    '/v1/lookups/batch',
    {
      onRequest: consumer,
      // Request-level refusals (token, body, subject id) are audited under the items' action.
      config: { audit: { action: 'batch.item', subject: 'subject', purpose: 'purpose', caseId: 'caseId', officer: 'officer' } },
      schema: {
        body: ref('BatchRequest'),
        response: { 200: ref('BatchResponse'), ...problems(400, 401, 403, 422, 429, 503) },
      },
    },
    async (request, reply) => send(reply, await app.lookups.batch(callerOf(request), request.body)),
  );

  app.post<{ Body: VerificationRequest }>(
    '/v1/verifications',
    {
      onRequest: consumer,
      config: {
        audit: { action: 'verification', subject: 'subject', type: 'type', purpose: 'purpose', caseId: 'caseId', officer: 'officer' },
      },
      schema: {
        body: ref('VerificationRequest'),
        response: { 200: ref('VerificationResponse'), ...problems(400, 401, 403, 404, 422, 429, 502, 503, 504) },
      },
    },
    async (request, reply) => send(reply, await app.lookups.verify(callerOf(request), request.body)),
  );

  app.get(
    '/v1/procedures',
    {
      onRequest: consumer,
      schema: { response: { 200: ref('ProcedureList'), ...problems(401, 403, 429) } },
    },
    async (_request, reply) => send(reply, await app.lookups.procedures()),
  );

  app.post<{ Body: CaseRequest }>(
    '/v1/cases',
    {
      onRequest: consumer,
      config: { audit: { action: 'case.material', subject: 'applicant', purpose: 'procedure', caseId: 'caseId', officer: 'officer' } },
      schema: {
        body: ref('CaseRequest'),
        response: { 201: ref('CaseResponse'), ...problems(400, 401, 403, 404, 422, 429, 503) },
      },
    },
    async (request, reply) => send(reply, await app.lookups.runCase(callerOf(request), request.body)),
  );
}

function send(reply: FastifyReply, answer: Answer<number, unknown>) {
  return reply.code(answer.status).send(answer.body);
}
