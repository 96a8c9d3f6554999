import { isPlainObject } from '../json.js';
import type { ProviderAnswer } from './types.js';

/**
 * Reads a provider envelope: `{found: true, record: {...}}` or `{found: false}`. Anything else
 * (including `found: false` with a record) is outside the protocol and yields undefined.
 * Other top-level members are ignored so that providers can add diagnostics without breaking us.
 */
export function toProviderAnswer(value: unknown): ProviderAnswer | undefined {
  if (!isPlainObject(value)) return undefined;
  if (value.found === true && isPlainObject(value.record)) return { found: true, record: value.record };
  if (value.found === false && !('record' in value)) return { found: false };
  return undefined;
}
