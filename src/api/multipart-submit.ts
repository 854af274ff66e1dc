/**
 * POST /v1/jobs as multipart/form-data: a `request` field holding the same JSON body as the JSON form, and one
 * file part per input, named by the input name (`LoadImage.image` = that name). Parts are read with limits
 * (file size, count, field size) so a huge or endless upload is cut off with 413, never buffered whole.
 */
import multipart, { type Multipart } from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from '../errors.js';
import { DEFAULT_MAX_INPUT_BYTES } from '../media/inputs.js';
import { jsonTextTooDeep, tooDeepError, valueTooDeep } from './body-limits.js';
import { inputNameSchema } from './schemas.js';
import { safeFilename } from '../util/safe-filename.js';

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

/**
 * Parses by the JSON body's rules: Fastify's default parser, which refuses a `__proto__` key and a
 * `constructor.prototype` (the same parser the multipart plugin uses for a field typed application/json).
 */
function parseJsonText(request: FastifyRequest, text: string): unknown {
  const parsed: { value?: unknown } = {};
  // Synchronous: it has called back when it returns.
  void request.server.getDefaultJsonParser('error', 'error')(request, text, (err, value) => {
    if (err === null) parsed.value = value;
  });
  if (!('value' in parsed)) {
    throw new ApiError('validation_failed', 'The "request" field is not valid JSON.', {
      errors: [
        { path: 'body.request', message: 'not valid JSON (or a __proto__ / constructor.prototype key)' },
      ],
    });
  }
  return parsed.value;
}

function requestJson(request: FastifyRequest, text: string): unknown {
  if (jsonTextTooDeep(text)) throw tooDeepError('The "request" field');
  return parseJsonText(request, text);
}

/**
 * The job JSON from the `request` part, whichever way it came: a plain text field; a field typed
 * `application/json`, which the multipart plugin has already parsed (curl `-F 'request=<f.json;type=…'`);
 * or a file part, which is how browsers send `FormData.append('request', jsonBlob)`.
 */
async function readRequestPart(
  request: FastifyRequest,
  part: Multipart,
  count: (n: number) => void,
): Promise<unknown> {
  if (part.type === 'file') {
    const bytes = await part.toBuffer();
    count(bytes.length);
    return requestJson(request, bytes.toString('utf8'));
  }
  if (typeof part.value === 'string') {
    count(Buffer.byteLength(part.value));
    return requestJson(request, part.value);
  }
  if (valueTooDeep(part.value)) throw tooDeepError('The "request" field');
  count(Buffer.byteLength(JSON.stringify(part.value) ?? ''));
  return part.value;
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
    if (part.fieldname === 'request') {
      if (body !== undefined) {
        throw new ApiError(
          'validation_failed',
          'Send exactly one "request" field; this body has more than one.',
          {
            errors: [{ path: 'body.request', message: 'more than one' }],
          },
        );
      }
      body = await readRequestPart(request, part, count);
      continue;
    }
    if (part.type === 'field') {
      throw new ApiError(
        'validation_failed',
        `Unknown form field "${part.fieldname}"; send the job JSON as "request".`,
      );
    }
    const name = inputNameSchema.safeParse(part.fieldname);
    if (!name.success || uploads.has(part.fieldname)) {
      throw new ApiError(
        'validation_failed',
        `File part "${part.fieldname}" is not a valid, unique input name.`,
      );
    }
    const bytes = await part.toBuffer();
    count(bytes.length);
    uploads.set(part.fieldname, { bytes, filename: safeFilename(part.filename, `${part.fieldname}.bin`) });
  }
  if (body === undefined) {
    throw new ApiError(
      'validation_failed',
      'A multipart submission needs a "request" field with the job JSON.',
      {
        errors: [{ path: 'body.request', message: 'required' }],
      },
    );
  }
  return { body, uploads };
}

/**
 * Errors from the multipart parser itself (busboy: no boundary, a body cut inside a part, a malformed part
 * header) are the client's fault: 400, not 500. The plugin's own limit errors (`FST_*`) keep their mapping.
 */
function malformed(err: unknown): unknown {
  if (err instanceof ApiError || !(err instanceof Error)) return err;
  const code = (err as Error & { code?: unknown }).code;
  if (typeof code === 'string' && code.startsWith('FST_') && code !== 'FST_INVALID_JSON_FIELD_ERROR')
    return err;
  return new ApiError('validation_failed', `The multipart body is malformed: ${err.message}`, {
    errors: [{ path: 'body', message: 'malformed multipart/form-data' }],
  });
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
    let parsed: Awaited<ReturnType<typeof readParts>>;
    try {
      parsed = await readParts(request, maxBodyBytes);
    } catch (err) {
      throw malformed(err);
    }
    const { body, uploads } = parsed;
    request.body = body;
    request.uploads = uploads;
  };
}
