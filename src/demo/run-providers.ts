import closeWithGrace from 'close-with-grace';
import { pino } from 'pino';
import { loadConfig } from '../config.js';
import { loggerOptions } from '../logging.js';
import { DEMO_PROVIDER_BASE_PORT, startDemoProviders } from './providers.js';

/**
 * `npm run demo:providers`: the demo departments as separate provider services (docker-compose).
 * Department i of DEMO_DEPARTMENTS listens on 4101 + i at HOST and verifies the gateway's tokens
 * against `${PUBLIC_URL}/.well-known/jwks.json` (issuer PUBLIC_URL), fetched when the first call
 * arrives, so the gateway may start after this.
 */
async function main() {
  const config = loadConfig();
  const log = pino(loggerOptions(config) as object);
  const providers = await startDemoProviders({
    issuer: config.publicUrl,
    jwksUrl: `${config.publicUrl}/.well-known/jwks.json`,
    host: config.host,
    basePort: DEMO_PROVIDER_BASE_PORT,
  });
  for (const [department, url] of providers.urls) log.info({ department, url }, 'demo provider listening');

  closeWithGrace({ delay: 5_000 }, async ({ err, signal }) => {
    if (err) log.error({ err }, 'closing after an error');
    else log.info({ signal }, 'closing demo providers');
    await providers.close();
  });
}

main().catch((err: unknown) => {
  console.error('demo providers failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
