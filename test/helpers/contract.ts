import { Readable, Transform, pipeline } from 'node:stream';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule, { type FormatsPlugin } from 'ajv-formats';
import type { FastifyInstance } from 'fastify';
import { loadGatewayDocument, type OpenApiDocument } from '../../src/openapi.js';
import { CONSOLE_PREFIX } from '../../src/console/plugin.js';
import { DOCS_PREFIX } from '../../src/ops/docs.js';

// ajv-formats is CommonJS; under NodeNext its default import is the module object.
const addFormats: FormatsPlugin = (addFormatsModule as unknown as { default: FormatsPlugin }).default ?? addFormatsModule;

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'trace'] as const;

/**
 * Swagger UI's own assets (scripts, styles, its copy of the document) live under /docs/, and the
 * console's files (page, ES modules, styles, ECharts) under /console/: files, not operations.
 */
export const isDocsAsset = (url: string) => url.startsWith(`${DOCS_PREFIX}/`) || url.startsWith(`${CONSOLE_PREFIX}/`);

/** `/v1/catalog/:type` → `/v1/catalog/{type}` (a Fastify regexp constraint such as `:id(^\d+)` is dropped). */
export function toDocumentPath(fastifyUrl: string): string {
  return fastifyUrl.replace(/:([A-Za-z0-9_]+)(\([^/]*\))?/g, '{$1}');
}

/** Every `METHOD /path` the document describes. */
export function documentedOperations(doc: OpenApiDocument): string[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    HTTP_METHODS.filter((m) => item[m] !== undefined).map((m) => `${m.toUpperCase()} ${path}`),
  );
}

/** One answer of the gateway as a client saw it. */
export interface Exchange {
  method: string;
  /** The matched route (`/v1/catalog/:type`); undefined when no route matched (the 404 handler). */
  routeUrl: string | undefined;
  status: number;
  contentType: string | undefined;
  /** The serialised body; null when it is streamed (see `lineChecker`). */
  body: string | null;
  requestId: string;
}

// Compiled once per process (vitest runs each test file in its own): the document never changes under a run.
const DOC = loadGatewayDocument();
const ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false, logger: false });
addFormats(ajv);
ajv.addSchema(DOC as object, 'gateway');
const validators = new Map<string, ValidateFunction>();

/** Each NDJSON line of a streamed export is one of these (OpenAPI 3.1 has no `itemSchema` yet). */
const NDJSON_ITEM = '/components/schemas/AuditEvent';

const pointerSegment = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');

function validatorAt(pointer: string): ValidateFunction {
  let v = validators.get(pointer);
  if (!v) {
    v = ajv.compile({ $ref: `gateway#${pointer}` });
    validators.set(pointer, v);
  }
  return v;
}

function at(pointer: string): unknown {
  return pointer
    .split('/')
    .slice(1)
    .reduce<unknown>((node, seg) => (node as Record<string, unknown> | undefined)?.[seg.replace(/~1/g, '/').replace(/~0/g, '~')], DOC);
}

/** The JSON pointer of a response object, following `$ref: '#/components/responses/…'`. */
function responsePointer(path: string, method: string, status: number): string | undefined {
  const responses = `/paths/${pointerSegment(path)}/${method}/responses`;
  const table = at(responses) as Record<string, unknown> | undefined;
  if (!table) return undefined;
  const key = [String(status), `${String(status)[0]}XX`, 'default'].find((k) => table[k] !== undefined);
  if (key === undefined) return undefined;
  const ref = (table[key] as { $ref?: string }).$ref;
  return ref ? ref.slice(1) : `${responses}/${key}`;
}

const mediaType = (header: string | undefined) => header?.split(';')[0]?.trim().toLowerCase();
const isJson = (media: string) => media === 'application/json' || media.endsWith('+json');

function matchMedia(documented: string[], actual: string): string | undefined {
  return documented.find((d) => d === actual || d === '*/*' || (d.endsWith('/*') && actual.startsWith(d.slice(0, -1))));
}

function schemaErrors(validate: ValidateFunction, value: unknown): string | null {
  if (validate(value)) return null;
  return ajv.errorsText(validate.errors, { separator: '; ', dataVar: 'body' });
}

/**
 * Checks every answer of a gateway against openapi/gateway.yaml: the operation is documented, the
 * status is documented for it, the content type is one it documents, and the body satisfies the
 * schema. Any route may also answer `500 INTERNAL_ERROR` or `503 NOT_READY` (said once in the
 * document's description).
 */
export class ContractRecorder {
  readonly violations: string[] = [];
  checked = 0;

  /** Validates one exchange; returns the documented media-type pointer for streamed bodies. */
  check(x: Exchange): string | undefined {
    if (x.method === 'HEAD' || (x.routeUrl !== undefined && isDocsAsset(x.routeUrl))) return undefined;
    this.checked += 1;
    const where = `${x.method} ${x.routeUrl ?? '(no route)'} → ${x.status} [${x.requestId}]`;
    const fail = (why: string) => void this.violations.push(`${where}: ${why}`);
    const media = mediaType(x.contentType);

    if (x.routeUrl === undefined || ((x.status === 500 || x.status === 503) && !this.documentsStatus(x))) {
      // No operation to check against: the not-found handler and internal errors answer a bare problem.
      if (media !== 'application/problem+json') return void fail(`content type ${media ?? 'none'} is not application/problem+json`);
      const err = x.body === null ? 'no body' : schemaErrors(validatorAt('/components/schemas/Problem'), JSON.parse(x.body));
      if (err) fail(err);
      return undefined;
    }
    const path = toDocumentPath(x.routeUrl);
    const method = x.method.toLowerCase();
    if (at(`/paths/${pointerSegment(path)}/${method}`) === undefined) return void fail(`no operation ${x.method} ${path} in gateway.yaml`);
    const pointer = responsePointer(path, method, x.status);
    if (!pointer) return void fail(`status ${x.status} is not documented for ${x.method} ${path}`);

    const content = at(`${pointer}/content`) as Record<string, unknown> | undefined;
    if (!content) {
      if (x.body) fail('a body was sent where the document declares none');
      return undefined;
    }
    const documented = media && matchMedia(Object.keys(content), media);
    if (!documented) return void fail(`content type ${media ?? 'none'} is not among ${Object.keys(content).join(', ')}`);
    const schemaPointer = `${pointer}/content/${pointerSegment(documented)}/schema`;
    if (x.body === null || at(schemaPointer) === undefined) return schemaPointer;

    let value: unknown = x.body;
    if (isJson(media)) {
      try {
        value = JSON.parse(x.body);
      } catch {
        return void fail('body is not valid JSON');
      }
    } else if (media === 'application/x-ndjson') {
      for (const line of x.body.split('\n').filter((l) => l.length > 0)) this.checkNdjsonLine(where, line);
      return undefined;
    }
    const err = schemaErrors(validatorAt(schemaPointer), value);
    if (err) fail(err);
    return undefined;
  }

  private documentsStatus(x: Exchange): boolean {
    return x.routeUrl !== undefined && responsePointer(toDocumentPath(x.routeUrl), x.method.toLowerCase(), x.status) !== undefined;
  }

  checkNdjsonLine(where: string, line: string) {
    let event: unknown;
    try {
      event = JSON.parse(line);
    } catch {
      return void this.violations.push(`${where}: an NDJSON line is not JSON`);
    }
    const err = schemaErrors(validatorAt(NDJSON_ITEM), event);
    if (err) this.violations.push(`${where}: NDJSON line ${err}`);
  }

  /** A pass-through that checks every NDJSON line of a streamed body as it goes by. */
  lineChecker(where: string): Transform {
    let rest = '';
    return new Transform({
      transform: (chunk: Buffer | string, _enc, done) => {
        const lines = (rest + chunk.toString()).split('\n');
        rest = lines.pop() ?? '';
        for (const line of lines) if (line.length > 0) this.checkNdjsonLine(where, line);
        done(null, chunk);
      },
      flush: (done) => {
        if (rest.length > 0) this.violations.push(`${where}: the last NDJSON line is not terminated by \\n`);
        done();
      },
    });
  }

  /**
   * Checks every answer `app` sends from now on. Call it before the routes are registered (in
   * `buildApp`'s `beforeRoutes`): Fastify fixes a route's hooks when the route is added.
   */
  attach(app: FastifyInstance): void {
    app.addHook('onSend', async (request, reply, payload) => {
      const streamed = payload instanceof Readable || payload instanceof ReadableStream;
      const exchange: Exchange = {
        method: request.method,
        routeUrl: request.routeOptions.url,
        status: reply.statusCode,
        contentType: reply.getHeader('content-type') as string | undefined,
        body: streamed ? null : payload === null || payload === undefined ? '' : String(payload),
        requestId: String(request.id),
      };
      try {
        const streamSchema = this.check(exchange);
        if (streamSchema && payload instanceof Readable && mediaType(exchange.contentType) === 'application/x-ndjson') {
          const checker = this.lineChecker(`${request.method} ${exchange.routeUrl} → ${reply.statusCode} [${exchange.requestId}]`);
          return pipeline(payload, checker, () => undefined);
        }
      } catch (err) {
        this.violations.push(`${exchange.method} ${exchange.routeUrl}: contract check failed: ${(err as Error).message}`);
      }
      return payload;
    });
  }

  /** Throws with every violation seen, so that a suite whose answers stray from the document fails. */
  assertNoViolations(): void {
    if (this.violations.length === 0) return;
    const shown = this.violations.slice(0, 20).join('\n  ');
    const more = this.violations.length > 20 ? `\n  … and ${this.violations.length - 20} more` : '';
    throw new Error(`responses outside openapi/gateway.yaml:\n  ${shown}${more}`);
  }
}
