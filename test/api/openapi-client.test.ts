/**
 * /openapi.json generates a good client: openapi-typescript turns the live document into types, and a small
 * program written against them type-checks (named schemas, header parameters, problem+json codes, 201s,
 * date-time strings, worker routes hidden).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import openapiTS, { astToString } from 'openapi-typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.js';

const tsc = fileURLToPath(new URL('../../node_modules/typescript/bin/tsc', import.meta.url));

const PROGRAM = `
import type { components, operations, paths } from './api.js';

type Job = components['schemas']['Job'];
type Problem = components['schemas']['Problem'];
type Submit = paths['/v1/jobs']['post'];

const body: Submit['requestBody']['content']['application/json'] = { template: 'invert', params: { color: 1 } };
const headers: NonNullable<Submit['parameters']['header']> = {
  'X-User-ID': 'alice',
  'Idempotency-Key': 'order-42',
  Prefer: 'wait=10',
};
const code: Problem['code'] = 'quota_exceeded';
// @ts-expect-error the error code is an enum, not any string
const wrong: Problem['code'] = 'no_such_code';
const limited: Submit['responses'][429]['content']['application/problem+json'] = {
  type: 't', title: 't', status: 429, code: 'rate_limited', detail: 'slow down',
};

function describeJob(job: Job): string {
  const status: 'queued' | 'running' | 'completed' | 'failed' | 'cancelled' = job.status;
  const created: string = job.created_at;
  const first = job.outputs[0];
  return [status, created, first?.url ?? '', String(first?.size ?? 0), job.error?.code ?? ''].join(' ');
}
const finished: Submit['responses'][200]['content']['application/json'] | undefined = undefined;
const list: paths['/v1/jobs']['get']['responses'][200]['content']['application/json']['data'] = [];
const created: paths['/v1/admin/accounts']['post']['responses'][201]['content']['application/json']['webhook_secret'] = 'whsec_x';
const op: operations['createJob']['parameters']['header'] = headers;
const lastEventId: NonNullable<paths['/v1/jobs/{id}/events']['get']['parameters']['header']>['Last-Event-ID'] = '3';
type HasWorkerRoutes = '/v1/worker/claim' extends keyof paths ? true : false;
const hidden: HasWorkerRoutes = false;
type Event = components['schemas']['ProgressEvent'];
const progress: Event = { value: 1, max: 2, node: '5', class_type: 'KSampler', fraction: 0.5 };
type Available = paths['/v1/templates']['get']['responses'][200]['content']['application/json']['data'];
const available: Available = [
  { name: 'invert', description: '', scope: 'global', params_schema: {}, updated_at: '2026-01-05T10:00:00.000Z' },
];

export { body, code, wrong, limited, describeJob, finished, list, created, op, lastEventId, hidden, progress, available };
`;

let server: TestServer;
let dir: string;

beforeAll(async () => {
  server = await startTestServer();
  dir = mkdtempSync(join(tmpdir(), 'arrakis-openapi-'));
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a client generated from /openapi.json', () => {
  it('has named component schemas for the wire shapes', async () => {
    const doc: any = await (await fetch(`${server.url}/openapi.json`)).json();
    for (const name of [
      'Job',
      'JobList',
      'Problem',
      'ErrorCode',
      'Usage',
      'CreateJobRequest',
      'Account',
      'CreatedAccount',
      'CreatedKey',
      'Template',
      'Worker',
      'StatusEvent',
      'WebhookEvent',
    ]) {
      expect(Object.keys(doc.components.schemas), name).toContain(name);
    }
    const post = doc.paths['/v1/jobs'].post;
    expect(post.operationId).toBe('createJob');
    expect(post.responses['202'].content['application/json'].schema.$ref).toBe('#/components/schemas/Job');
    expect(post.responses['429'].content['application/problem+json'].schema.$ref).toBe(
      '#/components/schemas/Problem',
    );
    expect(post.responses['429'].headers['Retry-After']).toBeDefined();
    expect(doc.paths['/v1/jobs/{id}/events'].get.responses['200'].content['text/event-stream']).toBeDefined();
    const download = doc.paths['/v1/jobs/{id}/outputs/{index}'].get.responses;
    expect(download['302'].headers.Location).toBeDefined();
    expect(download['200'].content['application/octet-stream'].schema.format).toBe('binary');
    expect(doc.components.securitySchemes.jwt.bearerFormat).toBe('JWT');
    expect(doc.components.schemas.Job.examples).toHaveLength(1);
    // Issue 13: the templates an account may run, and the job's progress fraction, output type, error details.
    const templates = doc.paths['/v1/templates'].get;
    expect(templates.operationId).toBe('listAvailableTemplates');
    expect(templates.responses['200'].content['application/json'].schema.$ref).toBe(
      '#/components/schemas/AvailableTemplateList',
    );
    const { JobProgress, JobOutput, JobError } = doc.components.schemas;
    expect(Object.keys(JobProgress.properties)).toEqual(expect.arrayContaining(['class_type', 'fraction']));
    expect(JobOutput.properties.type.enum).toEqual(['output', 'temp']);
    expect(Object.keys(JobError.properties.details.items.properties)).toEqual([
      'node_id',
      'class_type',
      'input',
      'message',
    ]);
    expect(JSON.stringify(doc)).not.toContain('9007199254740991');
  });

  it('type-checks a program against the types openapi-typescript generates', async () => {
    const doc: any = await (await fetch(`${server.url}/openapi.json`)).json();
    writeFileSync(join(dir, 'api.ts'), astToString(await openapiTS(doc)));
    writeFileSync(join(dir, 'program.ts'), PROGRAM);
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          noUncheckedIndexedAccess: true,
          skipLibCheck: true,
          types: [],
        },
        files: ['program.ts', 'api.ts'],
      }),
    );
    const run = await promisify(execFile)(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')]).then(
      () => ({ ok: true, out: '' }),
      (err: { stdout?: string }) => ({ ok: false, out: err.stdout ?? String(err) }),
    );
    expect(run.out).toBe('');
    expect(run.ok).toBe(true);
  }, 60_000);
});
