import { problem } from '../errors.js';
import { problems, type ContractApp } from '../openapi.js';
import { listRoute, pathParams, putOptions, recordChange, sendStored } from './admin-shared.js';
import type { Grant, Procedure } from './model.js';
import { deleteGrant, findGrant, findProcedure, listGrants, listProcedures, upsertGrant, upsertProcedure } from './repository.js';
import { checkGrant, checkProcedure } from './validate.js';

/** The `covert` member of a grant's change event: only when covertness was or is set. */
function covertChange(before: Grant['covert'], after: Grant['covert']): { extra?: Record<string, unknown> } {
  if (!before && !after) return {};
  return { extra: { covert: { before: before ?? null, after: after ?? null } } };
}

/** Grants and procedures (`/v1/admin/grants`, `/v1/admin/procedures`). */
export default async function adminGrantRoutes(app: ContractApp) {
  const grantParams = pathParams(app, { grantId: 'GrantId' });

  listRoute(app, '/v1/admin/grants', 'GrantList', async () => ({ grants: await listGrants(app.db) }));

  app.put(
    '/v1/admin/grants/:grantId',
    putOptions(
      grantParams,
      { body: 'GrantPut', item: 'Grant', refusals: [400, 401, 403, 409, 429, 503] },
      { action: 'admin.change', type: 'type' },
    ),
    async (request, reply) => {
      const key = request.params.grantId;
      const { verifyOnly, expiresAt, covert, ...rest } = request.body;
      // Normalised so the stored and returned instant reads the same whatever offset was sent.
      const grant: Grant = {
        grantId: key,
        ...rest,
        verifyOnly: verifyOnly ?? false,
        expiresAt: expiresAt ? new Date(expiresAt).toISOString() : null,
        covert: covert ?? null,
      };
      const registry = await app.registry.reload();
      checkGrant(grant, registry);
      const before = registry.grants.find((g) => g.grantId === key);
      await recordChange(app, request, {
        resource: 'grant',
        key,
        change: before ? 'updated' : 'created',
        type: grant.type,
        // Who made a grant covert (or overt), and when, is itself on the trail. Disclosure is fixed
        // per access when it happens, so this change never re-hides or reveals past accesses.
        ...covertChange(before?.covert ?? null, grant.covert ?? null),
      });
      await upsertGrant(app.db, grant);
      return sendStored(app, reply, before !== undefined, () => findGrant(app.db, key));
    },
  );

  app.delete(
    '/v1/admin/grants/:grantId',
    { config: { audit: { action: 'admin.change' } }, schema: { params: grantParams, response: problems(400, 401, 403, 404, 429, 503) } },
    async (request, reply) => {
      const key = request.params.grantId;
      const grant = await findGrant(app.db, key);
      if (!grant) throw problem('NOT_FOUND', `no grant "${key}"`);
      await recordChange(app, request, { resource: 'grant', key, change: 'deleted', type: grant.type });
      await deleteGrant(app.db, key);
      await app.registry.reload();
      return reply.code(204).send();
    },
  );

  listRoute(app, '/v1/admin/procedures', 'ProcedureList', async () => ({ procedures: await listProcedures(app.db) }));

  app.put(
    '/v1/admin/procedures/:code',
    putOptions(pathParams(app, { code: 'ProcedureCode' }), {
      body: 'ProcedurePut',
      item: 'Procedure',
      refusals: [400, 401, 403, 409, 429, 503],
    }),
    async (request, reply) => {
      const key = request.params.code;
      const procedure: Procedure = { code: key, ...request.body };
      const registry = await app.registry.reload();
      checkProcedure(procedure, registry);
      const existed = registry.procedures.has(key);
      await recordChange(app, request, { resource: 'procedure', key, change: existed ? 'updated' : 'created' });
      await upsertProcedure(app.db, procedure);
      return sendStored(app, reply, existed, () => findProcedure(app.db, key));
    },
  );
}
