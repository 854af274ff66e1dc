/**
 * What the route schemas cannot say: operationIds, response headers, the multipart form of POST /v1/jobs,
 * the event stream's events and the output download's binary and 302 answers.
 */
import { isObject, type Json, type JsonObject, type OpenApiDocument } from './json.js';

const OPERATION_IDS: Record<string, string> = {
  'post /v1/jobs': 'createJob',
  'get /v1/jobs': 'listJobs',
  'get /v1/jobs/{id}': 'getJob',
  'delete /v1/jobs/{id}': 'cancelJob',
  'get /v1/jobs/{id}/events': 'streamJobEvents',
  'get /v1/jobs/{id}/outputs/{index}': 'downloadOutput',
  'get /v1/usage': 'getUsage',
  'get /v1/templates': 'listAvailableTemplates',
  'post /v1/admin/accounts': 'createAccount',
  'get /v1/admin/accounts': 'listAccounts',
  'get /v1/admin/accounts/{id}': 'getAccount',
  'patch /v1/admin/accounts/{id}': 'updateAccount',
  'get /v1/admin/accounts/{id}/usage': 'getAccountUsage',
  'post /v1/admin/accounts/{id}/webhook-secret': 'rotateWebhookSecret',
  'post /v1/admin/accounts/{id}/keys': 'createApiKey',
  'get /v1/admin/accounts/{id}/keys': 'listApiKeys',
  'delete /v1/admin/keys/{id}': 'revokeApiKey',
  'put /v1/admin/templates/{name}': 'putTemplate',
  'post /v1/admin/templates': 'createTemplate',
  'get /v1/admin/templates': 'listTemplates',
  'delete /v1/admin/templates/{name}': 'deleteTemplate',
  'post /v1/admin/worker-tokens': 'createWorkerToken',
  'delete /v1/admin/worker-tokens/{id}': 'revokeWorkerToken',
  'get /v1/admin/workers': 'listWorkers',
};

/** A stable operationId: from the table, else derived from method and path (`getAdminFleetDecisions`). */
export function operationId(method: string, path: string): string {
  const known = OPERATION_IDS[`${method} ${path}`];
  if (known !== undefined) return known;
  const words = path
    .split('/')
    .filter((s) => s !== '' && s !== 'v1')
    .map((s) => s.replace(/[{}]/g, ''))
    .flatMap((s) => s.split(/[^A-Za-z0-9]+/))
    .filter((s) => s !== '');
  return [method, ...words].map((w, i) => (i === 0 ? w : w[0]?.toUpperCase() + w.slice(1))).join('');
}

const ref = (name: string): JsonObject => ({ $ref: `#/components/schemas/${name}` });
const header = (description: string, schema: JsonObject = { type: 'string' }): JsonObject => ({
  description,
  schema,
});
const problem = (description: string): JsonObject => ({
  description,
  content: { 'application/problem+json': { schema: ref('Problem') } },
});

function response(op: JsonObject | undefined, status: string): JsonObject | null {
  const responses = op?.responses;
  if (!isObject(responses)) return null;
  const r = responses[status];
  return isObject(r) ? r : null;
}

function addHeaders(r: JsonObject | null, headers: Record<string, JsonObject>): void {
  if (r !== null) r.headers = { ...(isObject(r.headers) ? r.headers : {}), ...headers };
}

function describeSubmit(op: JsonObject | undefined): void {
  if (op === undefined) return;
  const location = header('The job: /v1/jobs/{id}');
  addHeaders(response(op, '202'), { Location: location });
  addHeaders(response(op, '200'), {
    Location: location,
    'Preference-Applied': header('wait=N, as honoured'),
  });
  addHeaders(response(op, '429'), { 'Retry-After': header('Seconds to wait', { type: 'integer' }) });
  const ok = response(op, '200');
  if (ok !== null) ok.description = 'The job ended within the Prefer: wait time; output URLs are absolute';
  const accepted = response(op, '202');
  if (accepted !== null) accepted.description = 'Admitted (or still running after the Prefer: wait time)';
  const body = op.requestBody;
  if (isObject(body) && isObject(body.content)) {
    body.content['multipart/form-data'] = {
      schema: {
        type: 'object',
        required: ['request'],
        properties: {
          request: {
            type: 'string',
            contentMediaType: 'application/json',
            description: 'The JSON body, as text',
          },
        },
        additionalProperties: {
          type: 'string',
          format: 'binary',
          description: 'One file part per input name',
        },
      },
    };
  }
}

function describeEvents(op: JsonObject | undefined): void {
  if (op === undefined) return;
  op.description =
    'A text/event-stream. Each event has `id:` (per-job sequence number), `event:` and JSON `data:`:\n' +
    '- `status` (StatusEvent): the job changed state; the first event of a fresh stream is a snapshot without id\n' +
    '- `progress` (ProgressEvent): the running node advanced\n' +
    '- `output` (OutputEvent): an output file was stored\n' +
    '- `done` (DoneEvent): the job ended; the stream closes after it\n' +
    'Reconnect with `Last-Event-ID` (or `?after=`) to resume without loss.';
  const events: Json = {
    status: ref('StatusEvent'),
    progress: ref('ProgressEvent'),
    output: ref('OutputEvent'),
    done: ref('DoneEvent'),
  };
  op.responses = {
    '200': {
      description: 'The job events, until `done`',
      content: {
        'text/event-stream': {
          schema: { type: 'string', description: 'Server-Sent Events; see the operation description' },
          example: 'id: 3\nevent: progress\ndata: {"value":2,"max":10,"node":"5"}\n\n',
        },
      },
      'x-events': events,
    },
    '401': problem('Missing or invalid credentials (unauthorized)'),
    '404': problem('Not found, or not yours (not_found)'),
    '429': problem('Too many open streams (rate_limited)'),
  };
}

function describeDownload(op: JsonObject | undefined): void {
  if (op === undefined) return;
  const binary = { schema: { type: 'string', format: 'binary' } };
  op.responses = {
    '200': {
      description: 'The file (file storage)',
      headers: { 'Content-Disposition': header('inline for media, attachment otherwise') },
      content: { 'image/png': binary, 'application/octet-stream': binary },
    },
    '302': {
      description: 'S3 storage: a presigned URL to fetch without the API credentials',
      headers: { Location: header('The presigned URL', { type: 'string', format: 'uri' }) },
    },
    '401': problem('Missing or invalid credentials (unauthorized)'),
    '404': problem('No such job or output, or deleted by retention (not_found)'),
  };
}

function describeTemplateBodies(doc: OpenApiDocument): void {
  for (const [path, method] of [
    ['/v1/admin/templates', 'post'],
    ['/v1/admin/templates/{name}', 'put'],
  ] as const) {
    const op = doc.paths[path]?.[method];
    if (op !== undefined && op.requestBody === undefined) {
      op.requestBody = {
        required: true,
        content: { 'application/json': { schema: ref('TemplateRequestInput') } },
      };
    }
  }
}

/** Fills in the operations listed in the module comment. */
export function describeSpecialOperations(doc: OpenApiDocument): void {
  describeSubmit(doc.paths['/v1/jobs']?.post);
  describeEvents(doc.paths['/v1/jobs/{id}/events']?.get);
  describeDownload(doc.paths['/v1/jobs/{id}/outputs/{index}']?.get);
  describeTemplateBodies(doc);
}
