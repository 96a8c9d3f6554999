import type { Ajv } from 'ajv';
import ajvFormatsModule from 'ajv-formats';

/**
 * Adds ajv-formats' formats to `ajv`, typed as the plain `(ajv) => ajv` plugin Fastify's ajv
 * options take. ajv-formats is CommonJS: under NodeNext its default import is the module object,
 * whose `default` member is the plugin (the module sets `exports.default` to itself), so
 * `.default` is right for both the types and the runtime.
 *
 * The name is load-bearing: @fastify/ajv-compiler adds ajv-formats itself unless a plugin is
 * named `formatsPlugin`, and adding it twice fails ("Keyword formatMaximum is already defined").
 */
export function formatsPlugin(ajv: Ajv): Ajv {
  return ajvFormatsModule.default(ajv);
}
