import { envSchema } from 'env-schema';

/**
 * Typed, frozen configuration. This is the only module that reads `process.env`
 * (through `loadConfig()`); everything else receives a `Config`.
 * Variable names are part of the product contract (ARCHITECTURE.md, "Runtime").
 */
export interface Config {
  port: number;
  host: string;
  /** Unset: embedded PGlite under `dataDir`. */
  databaseUrl: string | null;
  dataDir: string;
  /** Where PGlite keeps its files; null keeps it in memory (tests). */
  pgliteDir: string | null;
  demo: boolean;
  demoProviders: 'builtin' | 'http';
  /** With DEMO_PROVIDERS=http: where separately run demo providers listen (`npm run demo:providers`); null runs them in-process. */
  demoProvidersUrl: string | null;
  redisUrl: string | null;
  logLevel: string;
  rateLimitPerMinute: number;
  /** Prefix of the rate-limit counters in Redis (not an environment variable; tests isolate runs with it). */
  rateLimitNamespace: string;
  adapterAllowedHosts: string;
  auditHmacKey: string | null;
  publicUrl: string;
  tokenTtlSeconds: number;
  auditFlushMaxEvents: number;
  auditFlushIntervalMs: number;
  providerMaxResponseBytes: number;
  providerMaxConcurrent: number;
  providerBreakerFailures: number;
  providerBreakerHalfOpenMs: number;
  revocationCheckMs: number;
  /** `http` adapter ports allowed (ADAPTER_ALLOWED_PORTS: comma-separated ports and ranges). */
  adapterAllowedPorts: string;
  /** Verifications per consumer department × subject × type per UTC day (VERIFY_BUDGET_PER_DAY). */
  verifyBudgetPerDay: number;
}

const schema = {
  type: 'object',
  properties: {
    PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 3000 },
    HOST: { type: 'string', default: '127.0.0.1' },
    DATABASE_URL: { type: 'string' },
    DATA_DIR: { type: 'string', default: './data' },
    DEMO: { type: 'boolean' },
    DEMO_PROVIDERS: { type: 'string', enum: ['builtin', 'http'], default: 'builtin' },
    DEMO_PROVIDERS_URL: { type: 'string', pattern: '^https?://[^/:]+$' },
    REDIS_URL: { type: 'string' },
    LOG_LEVEL: { type: 'string', enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
    RATE_LIMIT_PER_MINUTE: { type: 'integer', minimum: 1, default: 600 },
    ADAPTER_ALLOWED_HOSTS: { type: 'string', default: '127.0.0.1,localhost,::1' },
    AUDIT_HMAC_KEY: { type: 'string', minLength: 32 },
    PUBLIC_URL: { type: 'string' },
    TOKEN_TTL_SECONDS: { type: 'integer', minimum: 30, maximum: 3600, default: 300 },
    AUDIT_FLUSH_MAX_EVENTS: { type: 'integer', minimum: 1, maximum: 5000, default: 256 },
    AUDIT_FLUSH_INTERVAL_MS: { type: 'integer', minimum: 0, maximum: 1000, default: 0 },
    PROVIDER_MAX_RESPONSE_BYTES: { type: 'integer', minimum: 1024, default: 1048576 },
    PROVIDER_MAX_CONCURRENT: { type: 'integer', minimum: 1, default: 32 },
    PROVIDER_BREAKER_FAILURES: { type: 'integer', minimum: 1, default: 5 },
    PROVIDER_BREAKER_HALF_OPEN_MS: { type: 'integer', minimum: 100, default: 10000 },
    REVOCATION_CHECK_MS: { type: 'integer', minimum: 0, maximum: 5000, default: 2000 },
    ADAPTER_ALLOWED_PORTS: { type: 'string', default: '80,443,4100-4199' },
    VERIFY_BUDGET_PER_DAY: { type: 'integer', minimum: 1, default: 20 },
  },
} as const;

interface Env {
  PORT: number;
  HOST: string;
  DATABASE_URL?: string;
  DATA_DIR: string;
  DEMO?: boolean;
  DEMO_PROVIDERS: 'builtin' | 'http';
  DEMO_PROVIDERS_URL?: string;
  REDIS_URL?: string;
  LOG_LEVEL: string;
  RATE_LIMIT_PER_MINUTE: number;
  ADAPTER_ALLOWED_HOSTS: string;
  AUDIT_HMAC_KEY?: string;
  PUBLIC_URL?: string;
  TOKEN_TTL_SECONDS: number;
  AUDIT_FLUSH_MAX_EVENTS: number;
  AUDIT_FLUSH_INTERVAL_MS: number;
  PROVIDER_MAX_RESPONSE_BYTES: number;
  PROVIDER_MAX_CONCURRENT: number;
  PROVIDER_BREAKER_FAILURES: number;
  PROVIDER_BREAKER_HALF_OPEN_MS: number;
  REVOCATION_CHECK_MS: number;
  ADAPTER_ALLOWED_PORTS: string;
  VERIFY_BUDGET_PER_DAY: number;
}

/** Reads and validates the environment (or `data`, for tests); throws a readable error on bad values. */
export function loadConfig(data: Record<string, string | undefined> = process.env, overrides: Partial<Config> = {}): Readonly<Config> {
  // env: false — `data` is the whole environment (process.env by default); env-schema would otherwise
  // merge process.env under it, and a test's gateway would pick up REDIS_URL or DATABASE_URL from the shell.
  const env = envSchema<Env>({ schema, data, dotenv: false, env: false });
  const databaseUrl = env.DATABASE_URL && env.DATABASE_URL.length > 0 ? env.DATABASE_URL : null;
  const config: Config = {
    port: env.PORT,
    host: env.HOST,
    databaseUrl,
    dataDir: env.DATA_DIR,
    pgliteDir: databaseUrl ? null : `${env.DATA_DIR.replace(/\/+$/, '')}/pgdata`,
    // The demo government is seeded by default only on the embedded database, never on a real one.
    demo: env.DEMO ?? databaseUrl === null,
    demoProviders: env.DEMO_PROVIDERS,
    demoProvidersUrl: env.DEMO_PROVIDERS_URL ?? null,
    redisUrl: env.REDIS_URL && env.REDIS_URL.length > 0 ? env.REDIS_URL : null,
    logLevel: env.LOG_LEVEL,
    rateLimitPerMinute: env.RATE_LIMIT_PER_MINUTE,
    rateLimitNamespace: 'onetrip-rl:',
    adapterAllowedHosts: env.ADAPTER_ALLOWED_HOSTS,
    auditHmacKey: env.AUDIT_HMAC_KEY ?? null,
    publicUrl: (env.PUBLIC_URL ?? `http://${env.HOST.includes(':') ? `[${env.HOST}]` : env.HOST}:${env.PORT}`).replace(/\/+$/, ''),
    tokenTtlSeconds: env.TOKEN_TTL_SECONDS,
    auditFlushMaxEvents: env.AUDIT_FLUSH_MAX_EVENTS,
    auditFlushIntervalMs: env.AUDIT_FLUSH_INTERVAL_MS,
    providerMaxResponseBytes: env.PROVIDER_MAX_RESPONSE_BYTES,
    providerMaxConcurrent: env.PROVIDER_MAX_CONCURRENT,
    providerBreakerFailures: env.PROVIDER_BREAKER_FAILURES,
    providerBreakerHalfOpenMs: env.PROVIDER_BREAKER_HALF_OPEN_MS,
    revocationCheckMs: env.REVOCATION_CHECK_MS,
    adapterAllowedPorts: env.ADAPTER_ALLOWED_PORTS,
    verifyBudgetPerDay: env.VERIFY_BUDGET_PER_DAY,
    ...overrides,
  };
  return Object.freeze(config);
}
