/** `--templates DIR`: template files are loaded at start; a bad one stops the start naming the file. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { client, createTenant, startTestServer } from '../support/server.js';

const EXAMPLES = new URL('../../examples/templates', import.meta.url).pathname;

describe('--templates DIR', () => {
  it('loads the shipped example and serves it to end users', async () => {
    const server = await startTestServer({ settings: { templates: EXAMPLES } });
    try {
      const t = await createTenant(server, {}, ['jobs:read', 'jobs:write']);
      const r = await client(server, t.key, 'u').submit({
        template: 'invert',
        params: { color: 255, size: 128 },
      });
      expect(r.status).toBe(202);
      expect(r.body.template).toBe('invert');
    } finally {
      await server.close();
    }
  });

  it('a template pointing at a missing node stops the start with the file name', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'arrakis-tpl-'));
    writeFileSync(
      join(dir, 'broken.json'),
      JSON.stringify({
        name: 'broken',
        workflow: { '1': { class_type: 'EmptyImage', inputs: {} } },
        params: [{ name: 'x', node: '9', input: 'color', type: 'integer' }],
      }),
    );
    await expect(startTestServer({ settings: { templates: dir } })).rejects.toThrow(/broken\.json/);
  });
});
