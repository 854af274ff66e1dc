/**
 * /openapi.json (OpenAPI 3.1, generated from the route schemas, plus each global template's parameters)
 * and /docs, the reference page: Swagger UI served from the installed package (no CDN), reading the same
 * document.
 */
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { paramsJsonSchema } from '../../jobs/templates.js';
import type { Template } from '../../jobs/types.js';
import type { ApiContext } from '../context.js';

type OpenApiDocument = Record<string, unknown> & { components?: { schemas?: Record<string, unknown> } };

// Swagger UI's own scripts and styles only; it sets inline styles, and draws icons from data: URLs.
const DOCS_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "object-src 'none'; base-uri 'self'; frame-ancestors 'self'";

/** The generated document with one `Template_<name>` component per template (the body to send for it). */
function withTemplates(generated: unknown, templates: readonly Template[]): OpenApiDocument {
  const doc = structuredClone(generated) as OpenApiDocument;
  const schemas: Record<string, unknown> = { ...(doc.components?.schemas ?? {}) };
  for (const t of templates) {
    schemas[`Template_${t.name.replace(/[^A-Za-z0-9_.-]/g, '_')}`] = {
      type: 'object',
      description: t.description || `Body for template ${t.name}`,
      required: ['template', 'params'],
      properties: { template: { const: t.name }, params: paramsJsonSchema(t) },
    };
  }
  doc.components = { ...(doc.components ?? {}), schemas };
  return doc;
}

/**
 * The templates the public document lists: global ones only. /openapi.json is unauthenticated, and an account's
 * own templates (their names, descriptions and params) are its business; an account lists those through the
 * authenticated GET /v1/templates.
 */
async function globalTemplates(ctx: ApiContext): Promise<Template[]> {
  return (await ctx.store.listTemplates()).filter((t) => t.accountId === null);
}

/** Registers /openapi.json and /docs. */
export async function docsRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  app.get('/openapi.json', { schema: { hide: true } }, async () =>
    withTemplates(app.swagger(), await globalTemplates(ctx)),
  );
  // Swagger UI transforms its document synchronously, so the templates are read before, per request.
  const templatesOf = new WeakMap<FastifyRequest, readonly Template[]>();
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    uiConfig: {
      docExpansion: 'list',
      deepLinking: true,
      displayRequestDuration: true,
      tryItOutEnabled: false,
    },
    staticCSP: DOCS_CSP,
    uiHooks: {
      preHandler: async (request: FastifyRequest) => {
        if (/\/docs\/(json|yaml)$/.test(request.routeOptions.url ?? '')) {
          templatesOf.set(request, await globalTemplates(ctx));
        }
      },
    },
    transformSpecification: (spec, request) => withTemplates(spec, templatesOf.get(request) ?? []),
    transformSpecificationClone: false,
  });
}
