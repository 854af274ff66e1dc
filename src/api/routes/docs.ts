/**
 * /openapi.json (OpenAPI 3.1, generated from the route schemas, plus each registered template's parameters)
 * and /docs, a small human page that renders the document.
 */
import type { FastifyInstance } from 'fastify';
import { paramsJsonSchema } from '../../jobs/templates.js';
import type { ApiContext } from '../context.js';

const DOCS_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Arrakis API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
code,pre{background:#f4f4f4;padding:.1rem .3rem;border-radius:3px}h2{border-bottom:1px solid #ddd;margin-top:2rem}
.op{margin:1rem 0;padding:.5rem 1rem;border-left:4px solid #c80}.m{font-weight:bold;text-transform:uppercase}</style>
</head><body><h1>Arrakis API</h1>
<p>The machine-readable document is <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).
Errors are <code>application/problem+json</code> with a stable <code>code</code>.</p>
<div id="ops">Loading…</div>
<script>
fetch('/openapi.json').then(r => r.json()).then(doc => {
  const root = document.getElementById('ops'); root.textContent = '';
  for (const [path, ops] of Object.entries(doc.paths)) for (const [method, op] of Object.entries(ops)) {
    const div = document.createElement('div'); div.className = 'op';
    const h = document.createElement('div');
    const m = document.createElement('span'); m.className = 'm'; m.textContent = method + ' ';
    const c = document.createElement('code'); c.textContent = path;
    h.append(m, c); div.append(h);
    if (op.summary) { const p = document.createElement('p'); p.textContent = op.summary; div.append(p); }
    if (op.description) { const p = document.createElement('p'); p.textContent = op.description; div.append(p); }
    root.append(div);
  }
  const t = doc.components && doc.components.schemas ? Object.keys(doc.components.schemas).filter(k => k.startsWith('Template_')) : [];
  if (t.length) { const h = document.createElement('h2'); h.textContent = 'Templates'; root.append(h);
    for (const k of t) { const pre = document.createElement('pre'); pre.textContent = k.slice(9) + ' ' + JSON.stringify(doc.components.schemas[k], null, 2); root.append(pre); } }
});
</script></body></html>`;

/** Registers /openapi.json and /docs. */
export async function docsRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  app.get('/openapi.json', { schema: { hide: true } }, async () => {
    const doc = structuredClone(app.swagger()) as Record<string, unknown> & {
      components?: { schemas?: Record<string, unknown> };
    };
    const templates = await ctx.store.listTemplates();
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
  });
  app.get('/docs', { schema: { hide: true } }, async (_request, reply) =>
    reply.type('text/html; charset=utf-8').header('content-security-policy', "default-src 'self'; script-src 'unsafe-inline' 'self'; style-src 'unsafe-inline'").send(DOCS_HTML),
  );
}
