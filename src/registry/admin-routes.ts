import type { FastifyInstance } from 'fastify';
import adminDepartmentRoutes from './admin-departments.js';
import adminGrantRoutes from './admin-grants.js';
import adminTypeRoutes from './admin-types.js';

/**
 * The operator's registry API under `/v1/admin` (role `admin`). Every change is an `admin.change`
 * audit event naming the admin client, and every refusal of a change is one too (`config.audit`).
 */
export default async function adminRoutes(app: FastifyInstance) {
  // One hook for the whole encapsulated context: no admin route can be added without the role check.
  app.addHook('onRequest', app.requireRoles('admin'));
  await app.register(adminDepartmentRoutes);
  await app.register(adminTypeRoutes);
  await app.register(adminGrantRoutes);
}
