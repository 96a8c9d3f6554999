import type { FastifyServerOptions } from 'fastify';
import type { Config } from './config.js';

/**
 * Structured logs that never carry a credential or a personal id: authorization headers,
 * cookies, secrets, tokens and any `subject`/`applicant` id are censored wherever they appear
 * in a logged object. Request bodies are never logged.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  '*.authorization',
  'client_secret',
  '*.client_secret',
  'clientSecret',
  '*.clientSecret',
  'access_token',
  '*.access_token',
  'token',
  '*.token',
  'secret',
  '*.secret',
  'subject.id',
  '*.subject.id',
  'applicant.id',
  '*.applicant.id',
  'id_number',
];

export function loggerOptions(config: Pick<Config, 'logLevel'>): FastifyServerOptions['logger'] {
  return {
    level: config.logLevel,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
}
