/**
 * `arrakis/client` runs in browsers: it bundles for the browser platform (where any `node:*` import fails to
 * resolve) and pulls in nothing of the server but the wire schemas and the error-code tables.
 */
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const ALLOWED = [
  /^src\/client\//,
  /^src\/api\/wire\//,
  /^src\/errors\.ts$/,
  /^src\/jobs\/types\.ts$/,
  // The job's wire schema lives with the job domain (the store and webhooks render it); zod only.
  /^src\/jobs\/public-job-schema\.ts$/,
  /(^|\/)node_modules\/zod\//,
];

describe('arrakis/client is browser-safe', () => {
  it('bundles for the browser and imports only the wire schemas, error codes and zod', async () => {
    const result = await build({
      entryPoints: [`${root}src/client/index.ts`],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
      absWorkingDir: root,
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.some((i) => i.startsWith('src/client/'))).toBe(true);
    const foreign = inputs.filter((i) => !ALLOWED.some((re) => re.test(i)));
    expect(foreign).toEqual([]);
    const code = result.outputFiles[0]?.text ?? '';
    expect(code).not.toMatch(/from\s*["']node:/);
  });
});
