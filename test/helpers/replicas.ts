import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { startTestGateway, type TestGateway } from './app.js';

/** Two gateways on one database whose rate limits share one Redis (REDIS_URL) under a fresh namespace. */
export interface RedisReplicas {
  /** The Redis key prefix of both replicas' counters. */
  namespace: string;
  first: TestGateway;
  second: TestGateway;
  /** Closes both replicas and deletes their counters. */
  close(): Promise<void>;
}

/**
 * Starts two replicas with `env` (plus REDIS_URL). The first seeds the demo unless `seedDemo` is
 * false; the second never does (the database is shared, so it is seeded already).
 */
export async function startRedisReplicas(
  kind: 'pglite' | 'postgres',
  env: Record<string, string>,
  seedDemo = true,
): Promise<RedisReplicas> {
  const namespace = `onetrip-rl-test-${randomBytes(6).toString('hex')}:`;
  const options = { env: { ...env, REDIS_URL: process.env.REDIS_URL! }, config: { rateLimitNamespace: namespace } };
  const first = await startTestGateway(kind, { ...options, demo: seedDemo });
  const second = await startTestGateway(kind, { ...options, database: first.db, demo: false });
  return {
    namespace,
    first,
    second,
    close: async () => {
      await second.close();
      await first.close();
      const redis = new Redis(process.env.REDIS_URL!);
      const keys = await redis.keys(`${namespace}*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    },
  };
}
