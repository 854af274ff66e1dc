/** `arrakis agent`: a worker beside a ComfyUI that can only connect out, driven by the control plane's worker API. */
import { hostname } from 'node:os';
import { Option, type Command } from 'commander';
import pino from 'pino';
import { z } from 'zod';
import { Agent } from '../agent/agent.js';
import { reportNodeDefinitions } from '../agent/node-report.js';
import { RemoteJobChannel } from '../agent/remote-job-channel.js';
import { createComfyServer } from '../comfy/http-client.js';
import { ModelKeeper } from '../agent/model-keeper.js';
import { ModelCache } from '../models/model-cache.js';
import { parseLoaderList } from '../models/model-refs.js';

/** How often the agent re-sends its ComfyUI's node definitions (a control plane may have restarted). */
const NODE_REPORT_EVERY_MS = 5 * 60_000;

const httpUrl = z.url({
  protocol: /^https?$/,
  error: 'must be an http(s) URL such as http://127.0.0.1:8188',
});

const agentFlags = z.object({
  server: httpUrl.describe('--server: the control plane URL, e.g. https://arrakis.example.com'),
  token: z.string().regex(/^wkt_/, '--token must be a worker token (wkt_...) issued by the admin API'),
  comfyui: httpUrl.describe('--comfyui: the ComfyUI URL beside this agent, e.g. http://127.0.0.1:8188'),
  name: z.string().min(1).max(128),
  pool: z.string().min(1).max(64).optional(),
  jobTimeout: z.coerce.number().int().positive(),
  modelsDir: z.string().min(1).optional(),
  modelCacheGb: z.coerce.number().positive().max(1_000_000),
  vramModels: z.coerce.number().int().min(1).max(1024),
  modelLoaders: z.string().optional(),
});

/** Adds the agent's options to a command (the `agent` subcommand, or the single-file agent's own program). */
export function withAgentOptions(command: Command): Command {
  return (
    command
      .requiredOption('--server <url>', 'control plane URL')
      // The environment keeps the token out of `ps` output.
      .addOption(
        new Option('--token <token>', 'worker token (wkt_...) issued by the admin API')
          .env('ARRAKIS_WORKER_TOKEN')
          .makeOptionMandatory(),
      )
      .requiredOption('--comfyui <url>', 'ComfyUI URL')
      .option('--name <name>', 'worker name', hostname())
      .option('--pool <pool>', "pool to serve (default: the token's pool)")
      .option('--job-timeout <seconds>', 'per-job time limit in seconds', '600')
      .option(
        '--models-dir <dir>',
        "the ComfyUI's models/ folder: registered model files a job needs are fetched into it",
      )
      .option(
        '--model-cache-gb <gb>',
        'disk budget of fetched model files (least recently used evicted)',
        '100',
      )
      .option(
        '--vram-models <n>',
        "how many jobs' models the ComfyUI keeps resident (its --cache-lru, bounded by VRAM)",
        '1',
      )
      .option(
        '--model-loaders <list>',
        'extra loader inputs naming model files, Class.input=kind, comma-separated',
      )
  );
}

/** Registers `arrakis agent --server URL --token T --comfyui URL [--name N] [--pool P]`. */
export function register(program: Command): void {
  withAgentOptions(
    program
      .command('agent')
      .description('run jobs from a remote Arrakis control plane on a ComfyUI that can only connect out'),
  ).action(async (raw: Record<string, unknown>) => {
    await runAgent(raw);
  });
}

function parseFlags(raw: Record<string, unknown>): z.infer<typeof agentFlags> {
  const parsed = agentFlags.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`);
  throw new Error(`invalid agent settings: ${issues.join('; ')}`);
}

/** Model tracking, and with --models-dir the model cache. */
function modelKeeper(
  flags: z.infer<typeof agentFlags>,
  channel: RemoteJobChannel,
  log: pino.Logger,
): ModelKeeper {
  const cache =
    flags.modelsDir === undefined
      ? null
      : new ModelCache({
          dir: flags.modelsDir,
          budgetBytes: flags.modelCacheGb * 1e9,
          onRetry: (name, attempt, reason) =>
            log.warn({ name, attempt, reason }, 'model download refused; retrying'),
          onProgress: (name, bytes, total) => log.info({ name, bytes, total }, 'model download'),
        });
  const loaders = parseLoaderList(flags.modelLoaders ?? '');
  return new ModelKeeper({
    channel,
    comfyUrl: flags.comfyui,
    cache,
    vramModels: flags.vramModels,
    loaders,
    log,
  });
}

/** Runs until SIGTERM/SIGINT, then gives any running job back to the queue and exits. */
export async function runAgent(raw: Record<string, unknown>): Promise<void> {
  const flags = parseFlags(raw);
  const log = pino({ name: 'arrakis-agent' });
  const channel = new RemoteJobChannel({ serverUrl: flags.server, token: flags.token });
  const comfy = createComfyServer(flags.comfyui);
  const agent = new Agent({
    channel,
    comfy,
    models: modelKeeper(flags, channel, log),
    identity: { name: flags.name, pool: flags.pool ?? null, comfyUrl: flags.comfyui },
    jobTimeoutMs: flags.jobTimeout * 1000,
    log,
  });
  await agent.start();
  log.info({ workerId: agent.workerId, server: flags.server, comfyui: flags.comfyui }, 'agent registered');
  const reporting = new AbortController();
  const reporter = reportNodeDefinitions(
    {
      read: () => comfy.nodeDefinitions({ refresh: true }),
      send: (definitions) => channel.putNodeDefinitions(definitions),
      log,
      everyMs: NODE_REPORT_EVERY_MS,
    },
    reporting.signal,
  );
  process.stdout.write(`arrakis agent ${agent.workerId ?? ''} serving ${flags.comfyui}\n`);
  await new Promise<void>((resolve) => {
    const shutdown = (): void => {
      process.off('SIGTERM', shutdown);
      process.off('SIGINT', shutdown);
      resolve();
    };
    process.once('SIGTERM', shutdown);
    process.once('SIGINT', shutdown);
  });
  log.info({ workerId: agent.workerId }, 'stopping: releasing any running job');
  reporting.abort();
  await reporter;
  await agent.stop();
  await channel.close();
  await comfy.close();
}
