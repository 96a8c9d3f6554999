import { problem } from '../errors.js';
import { problems, ref, type ContractApp } from '../openapi.js';
import { listRoute, pathParams, putOptions, recordChange, sendStored } from './admin-shared.js';
import { issueClient, newClientId } from './clients.js';
import { findClient, findDepartment, listDepartments, revokeClient, upsertDepartment } from './repository.js';

/** Departments and their client credentials (`/v1/admin/departments`, `/v1/admin/clients`). */
export default async function adminDepartmentRoutes(app: ContractApp) {
  const code = pathParams(app, { code: 'DepartmentCode' });

  listRoute(app, '/v1/admin/departments', 'DepartmentList', async () => ({ departments: await listDepartments(app.db) }));

  app.get(
    '/v1/admin/departments/:code',
    { schema: { params: code, response: { 200: ref('Department'), ...problems(400, 401, 403, 404, 429) } } },
    async (request) => {
      const department = await findDepartment(app.db, request.params.code);
      if (!department) throw problem('NOT_FOUND', `no department "${request.params.code}"`);
      return department;
    },
  );

  app.put(
    '/v1/admin/departments/:code',
    putOptions(code, { body: 'DepartmentPut', item: 'Department', refusals: [400, 401, 403, 429, 503] }),
    async (request, reply) => {
      const key = request.params.code;
      const existed = (await findDepartment(app.db, key)) !== undefined;
      await recordChange(app, request, { resource: 'department', key, change: existed ? 'updated' : 'created' });
      await upsertDepartment(app.db, key, request.body.name);
      return sendStored(app, reply, existed, () => findDepartment(app.db, key));
    },
  );

  app.post(
    '/v1/admin/departments/:code/clients',
    {
      config: { audit: { action: 'admin.change' } },
      schema: {
        params: code,
        body: ref('ClientCreate'),
        response: { 201: ref('ClientCreated'), ...problems(400, 401, 403, 404, 429, 503) },
      },
    },
    async (request, reply) => {
      const department = request.params.code;
      if (!(await findDepartment(app.db, department))) throw problem('NOT_FOUND', `no department "${department}"`);
      const clientId = newClientId(department);
      await recordChange(app, request, { resource: 'client', key: clientId, change: 'created' });
      const issued = await issueClient(app.db, clientId, department, request.body.roles);
      reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
      return reply.code(201).send(issued);
    },
  );

  app.delete(
    '/v1/admin/clients/:clientId',
    {
      config: { audit: { action: 'admin.change' } },
      schema: { params: pathParams(app, { clientId: 'ClientId' }), response: problems(400, 401, 403, 404, 429, 503) },
    },
    async (request, reply) => {
      const { clientId } = request.params;
      if (!(await findClient(app.db, clientId))) throw problem('NOT_FOUND', `no client "${clientId}"`);
      await recordChange(app, request, { resource: 'client', key: clientId, change: 'revoked' });
      // Already revoked is fine: the answer is the same, and the earlier revocation time is kept.
      await revokeClient(app.db, clientId);
      // This replica refuses the client's tokens at once; others within REVOCATION_CHECK_MS.
      app.forgetClientStatus(clientId);
      return reply.code(204).send();
    },
  );
}
