/**
 * The folder rules of ARCHITECTURE.md, checked by `npm run lint:deps` (part of `npm test`).
 * Each rule names the arrow it forbids and why; docs/architecture.md draws the allowed ones.
 */
const CONTROL_PLANE =
  '^src/(api|jobs|store|events|media|webhooks|fleet|agent|runtime|cli|config|accounts|workers|models|client)/';

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Import cycles make the layers meaningless and the start-up order fragile.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'comfy-lite-stands-alone',
      severity: 'error',
      comment: 'comfy-lite plays a real ComfyUI: it imports nothing of the control plane.',
      from: { path: '^src/comfy-lite/' },
      to: { path: `${CONTROL_PLANE}|^src/comfy/|^src/errors\\.ts$` },
    },
    {
      name: 'comfy-knows-no-jobs',
      severity: 'error',
      comment: 'The ComfyUI client knows no database, job, HTTP API or storage.',
      from: { path: '^src/comfy/' },
      to: {
        path: '^src/(api|jobs|store|events|media|webhooks|fleet|agent|runtime|cli|accounts|workers|models)/',
      },
    },
    {
      name: 'store-knows-no-http',
      severity: 'error',
      comment: "The store is the job domain's persistence; HTTP, agents and the runtime sit above it.",
      from: { path: '^src/store/' },
      to: { path: '^src/(api|agent|runtime|cli|fleet|webhooks|media|client)/' },
    },
    {
      name: 'jobs-know-no-http',
      severity: 'error',
      comment: 'The job domain knows no HTTP and no agent.',
      from: { path: '^src/jobs/' },
      to: { path: '^src/(api|agent|runtime|cli|client)/' },
    },
    {
      name: 'lifecycle-on-contracts',
      severity: 'error',
      comment:
        'The job lifecycle performs transitions through the Store contract and publishes on the bus contract: ' +
        'no store implementation, no media, workers, fleet, webhooks, comfy or models (they call it, not the reverse).',
      from: { path: '^src/jobs/lifecycle/' },
      to: { path: '^src/(store/(?!contract\\.ts$)|media/|workers/|fleet/|webhooks/|comfy/|models/)' },
    },
    {
      name: 'media-knows-no-jobs',
      severity: 'error',
      comment: 'Safe fetch and storage know no job states, store or HTTP API.',
      from: { path: '^src/media/' },
      to: { path: '^src/(api|jobs|store|agent|runtime|cli|fleet|webhooks|workers)/' },
    },
    {
      name: 'nothing-depends-on-runtime',
      severity: 'error',
      comment: 'runtime/ is wiring only: it builds the parts; no part imports it (only cli/).',
      from: { path: '^src/', pathNot: '^src/(runtime|cli)/' },
      to: { path: '^src/runtime/' },
    },
    {
      name: 'nothing-depends-on-cli',
      severity: 'error',
      comment:
        'cli/ parses flags and prints; src/bench is the body of `arrakis bench` and shares its request builders.',
      from: { path: '^src/', pathNot: '^src/(cli|bench)/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'api-does-not-reach-into-agents',
      severity: 'error',
      comment: "The HTTP API serves workers through the control plane's worker service, not agent internals.",
      from: { path: '^src/api/' },
      to: { path: '^src/agent/' },
    },
    {
      name: 'client-is-browser-safe',
      severity: 'error',
      comment: 'arrakis/client runs in browsers: fetch only, no Node built-ins, no server modules.',
      from: { path: '^src/client/' },
      to: { dependencyTypes: ['core'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
