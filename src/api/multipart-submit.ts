/**
 * POST /v1/jobs as multipart/form-data: a `request` field holding the same JSON body as the JSON form, and one
 * file part per input, named by the input name (`LoadImage.image` = that name). Parts are read with limits
 * (file size, count, field size) so a huge or endless upload is cut off with 413, never buffered whole.
 */
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from '../errors.js';
import { DEFAULT_MAX_INPUT_BYTES } from '../media/inputs.js';
import { inputNameSchema } from './schemas.js';

export const MAX_UPLOAD_FILES = 16;

export interface Upload {
  bytes: Buffer;
  filename: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    uploads: Map<string, Upload> | null;
  }
}

function safeFilename(name: string | undefined, fallback: string): string {
  const cleaned = (name ?? '').replace(/[^A-Za-z0-9._-]/g, '_').slice(-128);
  return cleaned === '' || cleaned.startsWith('.') ? fallback : cleaned;
}

async function readParts(
  request: FastifyRequest,
  maxTotalBytes: number,
): Promise<{ body: unknown; uploads: Map<string, Upload> }> {
  const uploads = new Map<string, Upload>();
  let body: unknown;
  let total = 0;
  const count = (n: number): void => {
    total += n;
    if (total > maxTotalBytes) {
      throw new ApiError('payload_too_large', `The submission is larger than ${maxTotalBytes} bytes in all.`);
    }
  };
  for await (const part of request.parts()) {
    if (part.type === 'field') {
      if (part.fieldname !== 'request') {
        throw new ApiError('validation_failed', `Unknown form field "${part.fieldname}"; send the job JSON as "request".`);
      }
      count(Buffer.byteLength(String(part.value)));
      try {
        body = JSON.parse(String(part.value));
      } catch {
        throw new ApiError('validation_failed', 'The "request" field is not valid JSON.', {
          errors: [{ path: 'body.request', message: 'not valid JSON' }],
        });
      }
      continue;
    }
    const name = inputNameSchema.safeParse(part.fieldname);
    if (!name.success || uploads.has(part.fieldname)) {
      throw new ApiError('validation_failed', `File part "${part.fieldname}" is not a valid, unique input name.`);
    }
    const bytes = await part.toBuffer();
    count(bytes.length);
    uploads.set(part.fieldname, { bytes, filename: safeFilename(part.filename, `${part.fieldname}.bin`) });
  }
  if (body === undefined) {
    throw new ApiError('validation_failed', 'A multipart submission needs a "request" field with the job JSON.', {
      errors: [{ path: 'body.request', message: 'required' }],
    });
  }
  return { body, uploads };
}

/** Registers multipart parsing; `preValidation` turns a multipart request into the JSON body plus `uploads`. */
export async function registerMultipart(app: FastifyInstance, maxBodyBytes: number): Promise<void> {
  await app.register(multipart, {
    throwFileSizeLimit: true,
    limits: {
      fileSize: Math.min(DEFAULT_MAX_INPUT_BYTES, maxBodyBytes),
      files: MAX_UPLOAD_FILES,
      fields: 4,
      fieldSize: maxBodyBytes,
      parts: MAX_UPLOAD_FILES + 4,
    },
  });
  app.decorateRequest('uploads', null);
}

/** Route-level hook for POST /v1/jobs; the whole multipart body counts against `maxBodyBytes`. */
export function parseMultipartSubmission(maxBodyBytes: number): (request: FastifyRequest) => Promise<void> {
  return async (request) => {
    if (!request.isMultipart()) return;
    const { body, uploads } = await readParts(request, maxBodyBytes);
    request.body = body;
    request.uploads = uploads;
  };
}
