/**
 * RFC 8785 (JSON Canonicalization Scheme) serialisation, byte for byte what the `canonicalize`
 * package writes (and throwing where it throws: NaN, infinities, lone surrogates, cycles), without
 * its per-character surrogate scan in JavaScript, its Set and its intermediate arrays: it runs on
 * every request's path (audit chain, record digests). test/audit/canonical.test.ts holds the two
 * byte-identical over arbitrary JSON.
 */
export function canonicalJson(value: unknown): string | undefined {
  return write(value, []);
}

/** Any UTF-16 surrogate: a cheap native screen before the exact (rare) lone-surrogate check. */
const SURROGATE = /[\uD800-\uDFFF]/;

function hasLoneSurrogate(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code >= 0xd800 && code <= 0xdbff) {
      const next = i + 1 < value.length ? value.charCodeAt(i + 1) : 0;
      if (!(next >= 0xdc00 && next <= 0xdfff)) return true;
      i++;
    } else if (code >= 0xdc00 && code <= 0xdfff) {
      return true;
    }
  }
  return false;
}

/** A JSON string: JSON.stringify escapes exactly as RFC 8785 prescribes for well-formed strings. */
export function canonicalString(value: string): string {
  if (SURROGATE.test(value) && hasLoneSurrogate(value)) throw new Error('Lone surrogate is not allowed');
  return JSON.stringify(value);
}

function write(value: unknown, stack: object[]): string | undefined {
  switch (typeof value) {
    case 'string':
      return canonicalString(value);
    case 'number':
      if (Number.isNaN(value)) throw new Error('NaN is not allowed');
      if (!Number.isFinite(value)) throw new Error('Infinity is not allowed');
      // ECMAScript Number-to-String is RFC 8785's number form (-0 is written 0).
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      // booleans; undefined, functions and symbols give undefined; bigint throws (as canonicalize).
      return JSON.stringify(value);
  }
  if (value === null) return 'null';
  if (stack.includes(value)) throw new Error('Circular reference detected');
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  stack.push(value);
  let out: string | undefined;
  if (typeof toJSON === 'function') {
    out = write((toJSON as () => unknown).call(value), stack);
  } else if (Array.isArray(value)) {
    out = '[';
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      if (i > 0) out += ',';
      // canonicalize maps undefined and symbols to null; Array#map leaves holes, which join as ''.
      if (v === undefined || typeof v === 'symbol') out += i in value || v !== undefined ? 'null' : '';
      else out += write(v, stack) ?? '';
    }
    out += ']';
  } else {
    const object = value as Record<string, unknown>;
    const keys = Object.keys(object).sort();
    out = '{';
    let first = true;
    for (const key of keys) {
      const v = object[key];
      if (v === undefined || typeof v === 'symbol') continue;
      // A function member is written `"key":undefined`, as canonicalize's template literal does.
      out += `${first ? '' : ','}${canonicalString(key)}:${write(v, stack)}`;
      first = false;
    }
    out += '}';
  }
  stack.pop();
  return out;
}
