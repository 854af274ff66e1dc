/**
 * The model registry under /v1/admin/models: the files a worker's model cache may fetch, with their source
 * and checksum. Source URLs are trusted operator configuration; they are shown back without credentials.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ApiError } from '../../../errors.js';
import { MODEL_KINDS } from '../../../models/model-refs.js';
import { redactUrl } from '../../../models/model-source.js';
import type { ModelFile } from '../../../store/contract.js';
import type { ApiContext } from '../../context.js';
import { adminDoc } from './shared.js';

/** A file name as loaders list it: relative, `/`-separated, no hidden or parent segments. */
const modelName = z
  .string()
  .min(1)
  .max(512)
  .regex(
    /^(?!.*(^|\/)\.)[^\\/\0:*?"<>|][^\\\0:*?"<>|]*$/,
    'a relative file name such as sd15/model.safetensors',
  )
  .refine((n) => !n.endsWith('/'), 'a file name, not a folder');

export const createModelBody = z.strictObject({
  name: modelName.describe('File name as the loader lists it, e.g. v1-5-pruned-emaonly.safetensors'),
  kind: z
    .enum(MODEL_KINDS)
    .describe('Which models/ folder it goes in (checkpoint → checkpoints, lora → loras, …)'),
  url: z
    .string()
    .max(4096)
    .regex(/^(s3|https?):\/\/[^\s]+$/, 's3://bucket/key, https://… or http://…')
    .describe('Source: s3://bucket/key?endpoint=…&region=… (AWS_* credentials on the worker) or http(s)://…'),
  sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/, '64 lower-case hex digits')
    .describe('sha256 of the file'),
  size: z
    .number()
    .int()
    .positive()
    .max(2 ** 50)
    .describe('Size in bytes; a download larger than this is refused'),
});

function modelJson(m: ModelFile): Record<string, unknown> {
  return {
    name: m.name,
    kind: m.kind,
    url: redactUrl(m.url),
    sha256: m.sha256,
    size: m.size,
    created_at: new Date(m.createdAt).toISOString(),
  };
}

/** Registers POST/GET/DELETE /v1/admin/models (the admin scope checks the key). */
export async function modelRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const store = ctx.store;
  const schema = adminDoc;
  const nameParams = z.object({ name: z.string().min(1).max(512) });
  r.post(
    '/v1/admin/models',
    { schema: { ...schema, summary: 'Register a model file workers may fetch', body: createModelBody } },
    async (request, reply) => {
      const b = request.body;
      if (!(await store.createModelFile(b, Date.now()))) {
        throw new ApiError(
          'conflict',
          `A model file named "${b.name}" is already registered; DELETE it first.`,
        );
      }
      const created = await store.getModelFile(b.name);
      if (created === null) throw new ApiError('internal_error', 'The registered model file vanished.');
      return reply.code(201).send(modelJson(created));
    },
  );
  r.get('/v1/admin/models', { schema }, async () => ({
    data: (await store.listModelFiles()).map(modelJson),
  }));
  r.get('/v1/admin/models/:name', { schema: { ...schema, params: nameParams } }, async (request) => {
    const m = await store.getModelFile(request.params.name);
    if (m === null) throw new ApiError('not_found', 'No registered model file has this name.');
    return modelJson(m);
  });
  r.delete(
    '/v1/admin/models/:name',
    { schema: { ...schema, params: nameParams } },
    async (request, reply) => {
      if (!(await store.deleteModelFile(request.params.name))) {
        throw new ApiError('not_found', 'No registered model file has this name.');
      }
      return reply.code(204).send();
    },
  );
}
