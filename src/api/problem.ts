/** RFC 9457 problem+json for every error the API returns, each with a stable `code` (src/errors.ts). */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { API_ERRORS, ApiError, type ApiErrorCode } from '../errors.js';
import { isStoreUnavailable } from '../store/unavailable.js';

const TYPE_BASE = 'https://arrakis.dev/errors/';

/** Sends `code` as problem+json. */
export function sendProblem(
  reply: FastifyReply,
  code: ApiErrorCode,
  detail: string,
  extra: Readonly<Record<string, unknown>> = {},
  headers: Readonly<Record<string, string>> = {},
): FastifyReply {
  const { status, title } = API_ERRORS[code];
  for (const [k, v] of Object.entries(headers)) void reply.header(k, v);
  return reply
    .code(status)
    .type('application/problem+json')
    .send({ type: `${TYPE_BASE}${code}`, title, status, code, detail, ...extra });
}

interface FieldError {
  path: string;
  message: string;
}

function validationFields(err: FastifyError): FieldError[] {
  if (!hasZodFastifySchemaValidationErrors(err)) return [];
  return err.validation.map((v) => {
    const segments = String(v.instancePath)
      .split('/')
      .filter((s: string) => s !== '');
    const rawKeys: unknown = v.params.keys;
    const keys = Array.isArray(rawKeys) ? rawKeys.map(String) : [];
    const path = [err.validationContext ?? 'body', ...segments].join('.');
    const message = v.message ?? 'invalid';
    // An unknown field is reported at its own path, so clients can point at it.
    return keys.length > 0 ? { path: `${path}.${keys.join(',')}`, message } : { path, message };
  });
}

function fastifyCode(err: FastifyError): ApiErrorCode | null {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
    case 'FST_REQ_FILE_TOO_LARGE':
    case 'FST_FILES_LIMIT':
    case 'FST_PARTS_LIMIT':
      return 'payload_too_large';
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'unsupported_media_type';
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return 'validation_failed';
    default:
      return null;
  }
}

/** Installs the error and not-found handlers: nothing leaves the API except problem+json. */
export function installProblemHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (err instanceof ApiError) return sendProblem(reply, err.code, err.message, err.extra, err.headers);
    const fields = validationFields(err);
    if (fields.length > 0) {
      return sendProblem(reply, 'validation_failed', 'The request does not match the schema.', {
        errors: fields,
      });
    }
    const mapped = fastifyCode(err);
    if (mapped !== null) return sendProblem(reply, mapped, err.message);
    if (err instanceof SyntaxError || err.statusCode === 400) {
      return sendProblem(reply, 'validation_failed', 'The body is not valid JSON.');
    }
    if (err.statusCode === 413) return sendProblem(reply, 'payload_too_large', err.message);
    if (err.statusCode === 415) return sendProblem(reply, 'unsupported_media_type', err.message);
    // An outage is not a bug: 503 with a hint to retry, as /readyz says during it (the loops log it once).
    if (isStoreUnavailable(err)) {
      request.log.debug({ err }, 'database unavailable');
      return sendProblem(
        reply,
        'not_ready',
        'The database is not answering; retry shortly.',
        {},
        {
          'retry-after': '1',
        },
      );
    }
    request.log.error({ err }, 'unhandled error');
    return sendProblem(
      reply,
      'internal_error',
      'Something went wrong on our side; the request id is in the logs.',
    );
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, 'not_found', `No route ${request.method} ${request.url.split('?')[0] ?? ''}.`),
  );
}
