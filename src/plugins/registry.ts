import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { loadSnapshot, RecordValidators, type RegistrySnapshot } from '../registry/snapshot.js';

/** How old a replica's registry view may get before a request reloads it. */
const MAX_AGE_MS = 2000;

export interface Registry {
  /** The current registry view, reloaded when older than 2 s. */
  get(): Promise<RegistrySnapshot>;
  /** Reload now (after an admin change on this replica). */
  reload(): Promise<RegistrySnapshot>;
}

async function registryPlugin(app: FastifyInstance) {
  const validators = new RecordValidators();
  let snapshot = await loadSnapshot(app.db, validators);
  let loading: Promise<RegistrySnapshot> | null = null;

  const refresh = () => {
    loading ??= loadSnapshot(app.db, validators)
      .then((s) => (snapshot = s))
      .finally(() => (loading = null));
    return loading;
  };
  const get = async () => (Date.now() - snapshot.loadedAt < MAX_AGE_MS ? snapshot : refresh());
  // A load already under way may predate the change that asks for this reload: start a new one.
  const reload = async () => {
    await loading?.catch(() => undefined);
    return refresh();
  };
  app.decorate('registry', { get, reload } satisfies Registry);
}

declare module 'fastify' {
  interface FastifyInstance {
    registry: Registry;
  }
}

export default fp(registryPlugin, { name: 'registry', fastify: '5.x', dependencies: ['db'] });
