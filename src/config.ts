import { isIP } from 'node:net';
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
  /** Requests per address and minute that carry no valid token (issue 10.2); see src/plugins/unauth-limit.ts. */
  unauthRateLimitPerMinute: number;
  /** Reverse proxies whose X-Forwarded-For is believed (addresses or CIDRs); empty: none, request.ip is the peer. */
  trustProxy: string[];
  /** Prefix of the rate-limit counters in Redis (not an environment variable; tests isolate runs with it). */
  rateLimitNamespace: string;
  adapterAllowedHosts: string;
  auditHmacKey: string | null;
  /** PUBLIC_URL, or `http://HOST:PORT` when unset; the issuer in use is `app.issuer` (src/auth/issuer.ts). */
  publicUrl: string;
  /** Whether PUBLIC_URL was set: when not, replicas on one PostgreSQL share the issuer recorded there. */
  publicUrlConfigured: boolean;
  tokenTtlSeconds: number;
  auditFlushMaxEvents: number;
  auditFlushIntervalMs: number;
  providerMaxResponseBytes: number;
  providerMaxConcurrent: number;
  providerBreakerFailures: number;
  providerBreakerHalfOpenMs: number;
  revocationCheckMs: number;
  /** How long a consent request stays open for the subject's decision, and an approval for its use. */
  consentTtlHours: number;
  /** AUDIT_CHECKPOINT_EVENTS: a signed checkpoint at least every this many audit events. */
  auditCheckpointEvents: number;
  /** AUDIT_CHECKPOINT_SECONDS: and at least this often while events arrive. */
  auditCheckpointSeconds: number;
  /** GET /v1/public/once-only: requests per minute per address, and how long each replica reuses an answer. */
  publicReportRateLimitPerMinute: number;
  publicReportCacheSeconds: number;
  /** `http` adapter ports allowed (ADAPTER_ALLOWED_PORTS: comma-separated ports and ranges). */
  adapterAllowedPorts: string;
  /** Verifications per consumer department × subject × type per UTC day (VERIFY_BUDGET_PER_DAY). */
  verifyBudgetPerDay: number;
}

/** Booleans in the environment: true/false/1/0/yes/no, any case (contract, "Runtime"). */
const BOOLEAN = { type: 'string', pattern: '^(?:[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|1|0|[Yy][Ee][Ss]|[Nn][Oo])$' } as const;

function parseBoolean(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  return ['true', '1', 'yes'].includes(value.toLowerCase());
}

const schema = {
  type: 'object',
  properties: {
    PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 3000 },
    HOST: { type: 'string', default: '127.0.0.1' },
    DATABASE_URL: { type: 'string' },
    DATA_DIR: { type: 'string', default: './data' },
    DEMO: BOOLEAN,
    DEMO_PROVIDERS: { type: 'string', enum: ['builtin', 'http'], default: 'builtin' },
    DEMO_PROVIDERS_URL: { type: 'string', pattern: '^https?://[^/:]+$' },
    REDIS_URL: { type: 'string' },
    LOG_LEVEL: { type: 'string', enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
    RATE_LIMIT_PER_MINUTE: { type: 'integer', minimum: 1, default: 600 },
    UNAUTH_RATE_LIMIT_PER_MINUTE: { type: 'integer', minimum: 1, default: 120 },
    TRUST_PROXY: { type: 'string', default: '' },
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
    CONSENT_TTL_HOURS: { type: 'integer', minimum: 1, maximum: 8760, default: 168 },
    AUDIT_CHECKPOINT_EVENTS: { type: 'integer', minimum: 1, default: 1000 },
    AUDIT_CHECKPOINT_SECONDS: { type: 'integer', minimum: 1, default: 60 },
    PUBLIC_REPORT_RATE_LIMIT_PER_MINUTE: { type: 'integer', minimum: 1, default: 30 },
    PUBLIC_REPORT_CACHE_SECONDS: { type: 'integer', minimum: 0, maximum: 60, default: 60 },
    ADAPTER_ALLOWED_PORTS: { type: 'string', default: '80,443,4100-4199' },
    VERIFY_BUDGET_PER_DAY: { type: 'integer', minimum: 1, default: 20 },
  },
} as const;

interface Env {
  PORT: number;
  HOST: string;
  DATABASE_URL?: string;
  DATA_DIR: string;
  DEMO?: string;
  DEMO_PROVIDERS: 'builtin' | 'http';
  DEMO_PROVIDERS_URL?: string;
  REDIS_URL?: string;
  LOG_LEVEL: string;
  RATE_LIMIT_PER_MINUTE: number;
  UNAUTH_RATE_LIMIT_PER_MINUTE: number;
  TRUST_PROXY: string;
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
  CONSENT_TTL_HOURS: number;
  AUDIT_CHECKPOINT_EVENTS: number;
  AUDIT_CHECKPOINT_SECONDS: number;
  PUBLIC_REPORT_RATE_LIMIT_PER_MINUTE: number;
  PUBLIC_REPORT_CACHE_SECONDS: number;
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
    demo: parseBoolean(env.DEMO) ?? databaseUrl === null,
    demoProviders: env.DEMO_PROVIDERS,
    demoProvidersUrl: env.DEMO_PROVIDERS_URL ?? null,
    redisUrl: env.REDIS_URL && env.REDIS_URL.length > 0 ? env.REDIS_URL : null,
    logLevel: env.LOG_LEVEL,
    rateLimitPerMinute: env.RATE_LIMIT_PER_MINUTE,
    unauthRateLimitPerMinute: env.UNAUTH_RATE_LIMIT_PER_MINUTE,
    trustProxy: parseTrustProxy(env.TRUST_PROXY),
    rateLimitNamespace: 'onetrip-rl:',
    adapterAllowedHosts: env.ADAPTER_ALLOWED_HOSTS,
    auditHmacKey: env.AUDIT_HMAC_KEY ?? null,
    publicUrl: (env.PUBLIC_URL || `http://${env.HOST.includes(':') ? `[${env.HOST}]` : env.HOST}:${env.PORT}`).replace(/\/+$/, ''),
    publicUrlConfigured: env.PUBLIC_URL !== undefined && env.PUBLIC_URL.length > 0,
    tokenTtlSeconds: env.TOKEN_TTL_SECONDS,
    auditFlushMaxEvents: env.AUDIT_FLUSH_MAX_EVENTS,
    auditFlushIntervalMs: env.AUDIT_FLUSH_INTERVAL_MS,
    providerMaxResponseBytes: env.PROVIDER_MAX_RESPONSE_BYTES,
    providerMaxConcurrent: env.PROVIDER_MAX_CONCURRENT,
    providerBreakerFailures: env.PROVIDER_BREAKER_FAILURES,
    providerBreakerHalfOpenMs: env.PROVIDER_BREAKER_HALF_OPEN_MS,
    revocationCheckMs: env.REVOCATION_CHECK_MS,
    consentTtlHours: env.CONSENT_TTL_HOURS,
    auditCheckpointEvents: env.AUDIT_CHECKPOINT_EVENTS,
    auditCheckpointSeconds: env.AUDIT_CHECKPOINT_SECONDS,
    publicReportRateLimitPerMinute: env.PUBLIC_REPORT_RATE_LIMIT_PER_MINUTE,
    publicReportCacheSeconds: env.PUBLIC_REPORT_CACHE_SECONDS,
    adapterAllowedPorts: env.ADAPTER_ALLOWED_PORTS,
    verifyBudgetPerDay: env.VERIFY_BUDGET_PER_DAY,
    ...overrides,
  };
  return Object.freeze(config);
}

/** proxy-addr's names for whole ranges, also accepted in TRUST_PROXY. */
const PROXY_RANGE_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** TRUST_PROXY: comma-separated addresses, CIDRs or range names, as Fastify's `trustProxy` (proxy-addr) takes them. */
function parseTrustProxy(value: string): string[] {
  const entries = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  for (const entry of entries) {
    if (PROXY_RANGE_NAMES.has(entry)) continue;
    const [address, bits, extra] = entry.split('/');
    const version = isIP(address ?? '');
    const maxBits = version === 6 ? 128 : 32;
    if (version === 0 || extra !== undefined || (bits !== undefined && !(/^\d{1,3}$/.test(bits) && Number(bits) <= maxBits))) {
      throw new Error(`TRUST_PROXY: "${entry}" is not an IP address or CIDR`);
    }
  }
  return entries;
}
