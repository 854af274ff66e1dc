/**
 * Turns the generated OpenAPI document into one that generates good clients: worker routes hidden, problem+json
 * errors, 204s without bodies, canonical header names, operationIds, response headers, the event stream and
 * output downloads documented, JS-only integer bounds dropped, and unused component variants pruned.
 * Pure: document in, document out.
 */
import { describeSpecialOperations, operationId } from './operations.js';
import { isObject, type Json, type JsonObject, type OpenApiDocument } from './json.js';

export { isObject, type Json, type JsonObject, type OpenApiDocument };

const METHODS = ['get', 'put', 'post', 'patch', 'delete'];
const HEADER_NAMES: Record<string, string> = {
  'x-user-id': 'X-User-ID',
  'idempotency-key': 'Idempotency-Key',
  prefer: 'Prefer',
  'last-event-id': 'Last-Event-ID',
};
const STATUS_TEXT: Record<string, string> = {
  '200': 'OK',
  '201': 'Created',
  '202': 'Accepted',
  '204': 'No content',
  '302': 'Found',
  '400': 'The request is invalid (validation_failed, invalid_user_id, url_blocked, input_invalid)',
  '401': 'Missing or invalid credentials (unauthorized)',
  '403': 'Not allowed (insufficient_scope, user_mismatch)',
  '404': 'Not found, or not yours (not_found)',
  '409': 'Conflict (job_finished, idempotency_conflict, conflict)',
  '413': 'The body is too large (payload_too_large)',
  '415': 'Unsupported media type',
  '422': 'The workflow cannot run (workflow_invalid, template_not_found)',
  '429': 'Too many active jobs or requests (quota_exceeded, rate_limited); see Retry-After',
};

/**
 * Schema noise for generators: the ±2^53 bounds zod gives every integer (JavaScript's limit, not the API's),
 * zod's long regex beside `format: date-time`, and per-component `$schema` / `$id`.
 */
function simplifySchemas(node: Json): void {
  if (Array.isArray(node)) return node.forEach(simplifySchemas);
  if (!isObject(node)) return;
  if (node.minimum === Number.MIN_SAFE_INTEGER) delete node.minimum;
  if (node.maximum === Number.MAX_SAFE_INTEGER) delete node.maximum;
  if (node.format === 'date-time') delete node.pattern;
  delete node.$schema;
  if (typeof node.$id === 'string') delete node.$id;
  for (const v of Object.values(node)) simplifySchemas(v);
}

/** Points refs of an input variant identical to its output variant (`JobStatusInput`) at the output one. */
function mergeIdenticalVariants(doc: OpenApiDocument): OpenApiDocument {
  const schemas = doc.components.schemas ?? {};
  let text = JSON.stringify(doc);
  for (const name of Object.keys(schemas)) {
    const plain = name.endsWith('Input') ? name.slice(0, -'Input'.length) : null;
    if (plain === null || schemas[plain] === undefined) continue;
    if (JSON.stringify(schemas[plain]) !== JSON.stringify(schemas[name])) continue;
    text = text.replaceAll(`"#/components/schemas/${name}"`, `"#/components/schemas/${plain}"`);
  }
  return JSON.parse(text) as OpenApiDocument;
}

function polishResponses(op: JsonObject): void {
  const responses = op.responses;
  if (!isObject(responses)) return;
  for (const [status, response] of Object.entries(responses)) {
    if (!isObject(response)) continue;
    if (response.description === 'Default Response' || response.description === undefined) {
      response.description = STATUS_TEXT[status] ?? 'Response';
    }
    const content = response.content;
    if (status === '204') delete response.content;
    else if (Number(status) >= 400 && isObject(content) && content['application/json'] !== undefined) {
      response.content = { 'application/problem+json': content['application/json'] };
    }
  }
}

function polishParameters(op: JsonObject): void {
  if (!Array.isArray(op.parameters)) return;
  for (const p of op.parameters) {
    if (isObject(p) && p.in === 'header' && typeof p.name === 'string')
      p.name = HEADER_NAMES[p.name] ?? p.name;
  }
}

function polishOperation(path: string, method: string, op: JsonObject): void {
  op.operationId = operationId(method, path);
  polishResponses(op);
  polishParameters(op);
  const security = JSON.stringify(op.security ?? null);
  if (security === '[{"bearer":[]}]') op.security = [{ bearer: [] }, { jwt: [] }];
}

/** Every `#/components/schemas/<name>` referenced from `node`. */
function refs(node: Json, into: Set<string>): Set<string> {
  if (Array.isArray(node)) node.forEach((n) => refs(n, into));
  else if (isObject(node)) {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string' && v.startsWith('#/components/schemas/')) {
        into.add(v.slice('#/components/schemas/'.length));
      } else refs(v, into);
    }
  }
  return into;
}

/**
 * Keeps the components reachable from the paths (or named in `keep`), and gives an input-only variant
 * (`CreateJobRequestInput`) its plain name when the output variant is unused.
 */
function pruneComponents(doc: OpenApiDocument, keep: readonly string[]): OpenApiDocument {
  const schemas = doc.components.schemas ?? {};
  const live = refs(doc.paths as Json, new Set(keep));
  for (let grew = true; grew;) {
    const before = live.size;
    for (const name of [...live]) refs(schemas[name] ?? null, live);
    grew = live.size > before;
  }
  let text = JSON.stringify({ ...doc, components: { ...doc.components, schemas: {} } });
  const kept: Record<string, Json> = {};
  for (const name of Object.keys(schemas).sort()) {
    if (!live.has(name)) continue;
    const plain = name.endsWith('Input') ? name.slice(0, -'Input'.length) : null;
    const renamed = plain !== null && !live.has(plain) ? plain : name;
    kept[renamed] = schemas[name] ?? null;
  }
  let keptText = JSON.stringify(kept);
  for (const name of Object.keys(schemas)) {
    const plain = name.endsWith('Input') ? name.slice(0, -'Input'.length) : null;
    if (plain === null || !live.has(name) || live.has(plain)) continue;
    const from = `"#/components/schemas/${name}"`;
    const to = `"#/components/schemas/${plain}"`;
    text = text.replaceAll(from, to);
    keptText = keptText.replaceAll(from, to);
  }
  const out = JSON.parse(text) as OpenApiDocument;
  out.components.schemas = JSON.parse(keptText) as { [name: string]: Json };
  return out;
}

/** The polished document (see the module comment). */
export function polishDocument(input: OpenApiDocument): OpenApiDocument {
  const doc = structuredClone(input);
  for (const path of Object.keys(doc.paths)) {
    if (path.startsWith('/v1/worker/')) {
      delete doc.paths[path];
      continue;
    }
    const item = doc.paths[path] ?? {};
    for (const method of METHODS) {
      const op = item[method];
      if (op !== undefined) polishOperation(path, method, op);
    }
  }
  describeSpecialOperations(doc);
  simplifySchemas(doc.components.schemas ?? null);
  simplifySchemas(doc.paths as Json);
  return pruneComponents(mergeIdenticalVariants(doc), ['WebhookEvent', 'ErrorCode', 'Problem']);
}
