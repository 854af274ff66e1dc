/**
 * /openapi.json generation: @fastify/swagger over the zod route schemas, with every wire shape as a named
 * component (`$ref: '#/components/schemas/Job'`), then polished for client generators (polish.ts).
 */
import swagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import { createJsonSchemaTransform, createJsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { WIRE_COMPONENTS } from '../wire/index.js';
import { polishDocument, type OpenApiDocument } from './polish.js';

/**
 * Names the wire schemas in zod's registry (where `.describe()` keeps descriptions too), so route schemas
 * that use them become `$ref`s. Idempotent: several apps in one process share the registry.
 */
function nameWireComponents(): void {
  for (const [id, schema] of Object.entries(WIRE_COMPONENTS)) {
    const meta = z.globalRegistry.get(schema);
    if (meta?.id === id) continue;
    z.globalRegistry.add(schema, { ...meta, id });
  }
}

const DESCRIPTION = `Multi-tenant job API in front of ComfyUI.

Job endpoints act for one end user: an account API key with the \`X-User-ID\` header, or an end-user JWT
whose \`sub\` is the user. Errors are \`application/problem+json\` (RFC 9457) with a stable \`code\`
(see the ErrorCode schema). Output URLs are relative to the API root, except in a \`Prefer: wait\` answer,
where they are absolute (from \`--public-url\`, else the request's Host).`;

/** Registers @fastify/swagger; `app.swagger()` then returns the polished document. */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  nameWireComponents();
  const toObject = createJsonSchemaTransformObject({});
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Arrakis', version: '1.1.0', description: DESCRIPTION },
      tags: [
        {
          name: 'jobs',
          description: 'Submit, follow, cancel and download jobs (account key + X-User-ID, or JWT)',
        },
        { name: 'admin', description: 'Operator API (admin key): accounts, keys, templates, workers' },
      ],
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description: 'Account API key (`ark_…`); job endpoints also need the X-User-ID header',
          },
          jwt: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'JWT',
            description: 'End-user JWT signed as the account configured (`sub` = the user)',
          },
          admin: { type: 'http', scheme: 'bearer', description: 'Operator admin key (`--admin-key`)' },
        },
      },
    },
    transform: createJsonSchemaTransform({}),
    transformObject: (input) => polishDocument(toObject(input) as OpenApiDocument),
  });
}
