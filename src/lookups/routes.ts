import type { FastifyInstance } from 'fastify';
import { ConsentPending } from '../consents/gate.js';
import { problems, ref } from '../openapi.js';
import { runBatch, type BatchRequest } from './batch.js';
import { runCase, type CaseRequest } from './cases.js';
import { fetchOne, type FetchItem } from './flow.js';
import { verifyClaim, type VerificationRequest } from './verify.js';

/** The consumer API: lookups, batches, verifications, procedures and cases (gateway.yaml, tags lookups and cases). */
export default async function lookupRoutes(app: FastifyInstance) {
  const consumer = app.requireRoles('consumer');
  app.decorate('verifyBudgetInFlight', new Map<string, number>());

  app.post<{ Body: FetchItem }>(
    '/v1/lookups',
    {
      onRequest: consumer,
      config: { auditAction: 'lookup' },
      schema: {
        body: ref('LookupRequest'),
        response: { 200: ref('LookupResponse'), 202: ref('ConsentPending'), ...problems(400, 401, 403, 404, 422, 429, 502, 503, 504) },
      },
    },
    async (request, reply) => {
      const snapshot = await app.registry.get();
      try {
        return await fetchOne(app, request, snapshot, request.body, 'lookup');
      } catch (err) {
        // A consent-required type: nothing released until the subject approves (issue 15).
        if (err instanceof ConsentPending) return reply.code(202).send({ consentId: err.consentId, status: err.status, expiresAt: err.expiresAt });
        throw err;
      }
    },
  );

  app.post<{ Body: BatchRequest }>(
    '/v1/lookups/batch',
    {
      onRequest: consumer,
      // Request-level refusals (token, body, subject id) are audited under the items' action.
      config: { auditAction: 'batch.item' },
      schema: {
        body: ref('BatchRequest'),
        response: { 200: ref('BatchResponse'), ...problems(400, 401, 403, 422, 429, 503) },
      },
    },
    async (request) => runBatch(app, request, await app.registry.get(), request.body),
  );

  app.post<{ Body: VerificationRequest }>(
    '/v1/verifications',
    {
      onRequest: consumer,
      config: { auditAction: 'verification' },
      schema: {
        body: ref('VerificationRequest'),
        response: { 200: ref('VerificationResponse'), ...problems(400, 401, 403, 404, 422, 429, 502, 503, 504) },
      },
    },
    async (request) => verifyClaim(app, request, await app.registry.get(), request.body),
  );

  app.get(
    '/v1/procedures',
    {
      onRequest: consumer,
      schema: { response: { 200: ref('ProcedureList'), ...problems(401, 403, 429) } },
    },
    async () => {
      const snapshot = await app.registry.get();
      return { procedures: [...snapshot.procedures.values()].map((p) => ({ code: p.code, title: p.title, materials: p.materials })) };
    },
  );

  app.post<{ Body: CaseRequest }>(
    '/v1/cases',
    {
      onRequest: consumer,
      config: { auditAction: 'case.material' },
      schema: {
        body: ref('CaseRequest'),
        response: { 201: ref('CaseResponse'), ...problems(400, 401, 403, 404, 422, 429, 503) },
      },
    },
    async (request, reply) => {
      const answer = await runCase(app, request, await app.registry.get(), request.body);
      app.metrics.recordCase(request.principal!.department, answer);
      return reply.code(201).send(answer);
    },
  );
}
