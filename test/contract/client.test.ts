import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import openapiTS, { astToString, COMMENT_HEADER } from 'openapi-typescript';
import { describe, expect, it } from 'vitest';
import { OPENAPI_DIR } from '../../src/openapi.js';

const GENERATED = path.resolve(OPENAPI_DIR, '../src/client/gateway.d.ts');

describe('the typed client (src/client)', () => {
  it('was generated from the current openapi/gateway.yaml (run `npm run generate:client` after editing it)', async () => {
    // Exactly what `openapi-typescript openapi/gateway.yaml -o src/client/gateway.d.ts` writes.
    const ast = await openapiTS(pathToFileURL(path.join(OPENAPI_DIR, 'gateway.yaml')), { silent: true });
    const fresh = COMMENT_HEADER + astToString(ast);
    const committed = await readFile(GENERATED, 'utf8');
    // One boolean, not a 2 400-line diff: the fix is always to regenerate.
    expect(committed === fresh, 'src/client/gateway.d.ts is stale: run `npm run generate:client`').toBe(true);
  });
});
