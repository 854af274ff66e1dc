/** `arrakis agent`: a worker beside a ComfyUI that can only connect out, driven by the control plane's worker API. */
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { Option, type Command } from 'commander';
import type { Logger } from 'pino';
import { z } from 'zod';
import { Agent } from '../agent/agent.js';
import { reportNodeDefinitions } from '../agent/node-report.js';
import { startWithRetry } from '../agent/register-retry.js';
import { RemoteJobChannel } from '../agent/remote-job-channel.js';
import { createComfyServer } from '../comfy/http-client.js';
import { ModelKeeper } from '../agent/model-keeper.js';
import { ModelCache } from '../models/model-cache.js';
import { parseLoaderList } from '../models/model-refs.js';
import { createLogger } from '../runtime/log.js';

/** How often the agent re-sends its ComfyUI's node definitions (a control plane may have restarted). */
const NODE_REPORT_EVERY_MS = 5 * 60_000;

const httpUrl = z.url({
  protocol: /^https?$/,
  error: 'must be an http(s) URL such as http://127.0.0.1:8188',
});
const seconds = (max: number): z.ZodCoercedNumber => z.coerce.number().positive().max(max);

const agentFlags = z.object({
  server: httpUrl.describe('--server: the control plane URL, e.g. https://arrakis.example.com'),
  token: z.string().optional(),
  tokenFile: z.string().min(1).optional(),
  comfyui: httpUrl.describe('--comfyui: the ComfyUI URL beside this agent, e.g. http://127.0.0.1:8188'),
  name: z.string().min(1).max(128),
  pool: z.string().min(1).max(64).optional(),
  jobTimeoutSeconds: seconds(86400),
  requestTimeoutSeconds: seconds(3600),
  claimWaitSeconds: seconds(25),
  retryMaxSeconds: seconds(3600),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  modelsDir: z.string().min(1).optional(),
  modelCacheGb: z.coerce.number().positive().max(1_000_000),
  vramModels: z.coerce.number().int().min(1).max(1024),
  modelLoaders: z.string().optional(),
});
type AgentFlags = z.infer<typeof agentFlags>;

/** Adds the agent's options to a command (the `agent` subcommand, or the single-file agent's own program). */
export function withAgentOptions(command: Command): Command {
  const opt = (flags: string, description: string, env: string, fallback?: string): Option => {
    const o = new Option(flags, description).env(env);
    return fallback === undefined ? o : o.default(fallback);
  };
  return (
    command
      .requiredOption('--server <url>', 'control plane URL')
      // argv shows in `ps` to every user of the host: prefer the file or the environment.
      .addOption(
        opt('--token <token>', 'worker token (wkt_...); prefer --token-file', 'ARRAKIS_WORKER_TOKEN'),
      )
      .addOption(
        opt(
          '--token-file <path>',
          'file holding the worker token (wins over --token)',
          'ARRAKIS_WORKER_TOKEN_FILE',
        ),
      )
      .requiredOption('--comfyui <url>', 'ComfyUI URL')
      .option('--name <name>', 'worker name', hostname())
      .option('--pool <pool>', "pool to serve (default: the token's pool)")
      .addOption(
        opt('--job-timeout-seconds <s>', 'longest a job may run here', 'ARRAKIS_JOB_TIMEOUT_SECONDS', '1800'),
      )
      .addOption(new Option('--job-timeout <s>', 'old name of --job-timeout-seconds').hideHelp())
      .addOption(
        opt(
          '--request-timeout-seconds <s>',
          'time limit of each control call to the control plane (long polls and file transfers excepted)',
          'ARRAKIS_REQUEST_TIMEOUT_SECONDS',
          '30',
        ),
      )
      .addOption(
        opt(
          '--claim-wait-seconds <s>',
          'how long one claim long-poll waits for a job',
          'ARRAKIS_CLAIM_WAIT_SECONDS',
          '20',
        ),
      )
      .addOption(
        opt(
          '--retry-max-seconds <s>',
          'longest wait between retries while the control plane is unreachable',
          'ARRAKIS_RETRY_MAX_SECONDS',
          '30',
        ),
      )
      .addOption(
        opt(
          '--log-level <level>',
          'fatal, error, warn, info, debug, trace or silent',
          'ARRAKIS_LOG_LEVEL',
          'info',
        ),
      )
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

/** Registers `arrakis agent --server URL --token-file F --comfyui URL [--name N] [--pool P]`. */
export function register(program: Command): void {
  withAgentOptions(
    program
      .command('agent')
      .description('run jobs from a remote Arrakis control plane on a ComfyUI that can only connect out'),
  ).action(async (raw: Record<string, unknown>) => {
    await runAgent(raw);
  });
}

function parseFlags(raw: Record<string, unknown>): AgentFlags {
  const withAlias = { ...raw, jobTimeoutSeconds: raw.jobTimeout ?? raw.jobTimeoutSeconds };
  const parsed = agentFlags.safeParse(withAlias);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`);
  throw new Error(`invalid agent settings: ${issues.join('; ')}`);
}

/** Model tracking, and with --models-dir the model cache. */
function modelKeeper(flags: AgentFlags, channel: RemoteJobChannel, log: Logger): ModelKeeper {
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

/** The worker token from --token-file, else --token / ARRAKIS_WORKER_TOKEN; checked for its form. */
async function resolveToken(flags: AgentFlags): Promise<string> {
  let token = flags.token;
  if (flags.tokenFile !== undefined) {
    token = (
      await readFile(flags.tokenFile, 'utf8').catch((err: unknown) => {
        throw new Error(
          `cannot read --token-file ${flags.tokenFile}: ${err instanceof Error ? err.message : String(err)}`,
        );
      })
    ).trim();
  }
  if (token === undefined || token === '') {
    throw new Error('a worker token is needed: --token-file PATH, ARRAKIS_WORKER_TOKEN, or --token');
  }
  if (!/^wkt_\S+$/.test(token))
    throw new Error('the worker token must be a wkt_... token issued by the admin API');
  return token;
}

/** Resolves on the first SIGTERM/SIGINT, aborting `stopping`. */
function onStopSignal(stopping: AbortController): Promise<void> {
  return new Promise<void>((resolve) => {
    const shutdown = (): void => {
      process.off('SIGTERM', shutdown);
      process.off('SIGINT', shutdown);
      stopping.abort();
      resolve();
    };
    process.once('SIGTERM', shutdown);
    process.once('SIGINT', shutdown);
  });
}

/**
 * Runs until SIGTERM/SIGINT, then gives any running job back to the queue and exits. Waits (with backoff) for
 * a control plane that is not up yet, and rides out its outages later.
 */
export async function runAgent(raw: Record<string, unknown>): Promise<void> {
  const flags = parseFlags(raw);
  const token = await resolveToken(flags);
  const log = createLogger({ level: flags.logLevel, name: 'arrakis-agent' });
  const retryMaxMs = flags.retryMaxSeconds * 1000;
  const channel = new RemoteJobChannel({
    serverUrl: flags.server,
    token,
    requestTimeoutMs: flags.requestTimeoutSeconds * 1000,
  });
  const comfy = createComfyServer(flags.comfyui);
  const reportNow = new EventTarget();
  const agent = new Agent({
    channel,
    comfy,
    models: modelKeeper(flags, channel, log),
    identity: { name: flags.name, pool: flags.pool ?? null, comfyUrl: flags.comfyui },
    jobTimeoutMs: flags.jobTimeoutSeconds * 1000,
    claimWaitMs: flags.claimWaitSeconds * 1000,
    claimBackoffMs: { minMs: Math.min(500, retryMaxMs), maxMs: retryMaxMs },
    onClaimsRecovered: () => reportNow.dispatchEvent(new Event('wake')),
    log,
  });
  const stopping = new AbortController();
  const stopped = onStopSignal(stopping);
  const backoff = { minMs: Math.min(500, retryMaxMs), maxMs: retryMaxMs };
  const started = await startWithRetry(() => agent.start(), {
    log,
    backoff,
    signal: stopping.signal,
    server: flags.server,
  }).catch(async (err: unknown) => {
    // Refused for good (bad token, wrong pool): nothing may keep the process alive.
    await channel.close();
    await comfy.close();
    throw err;
  });
  if (started) {
    log.info({ workerId: agent.workerId, server: flags.server, comfyui: flags.comfyui }, 'agent registered');
    const reporter = reportNodeDefinitions(
      {
        read: () => comfy.nodeDefinitions({ refresh: true }),
        send: (definitions) => channel.putNodeDefinitions(definitions),
        log,
        everyMs: NODE_REPORT_EVERY_MS,
        wake: reportNow,
      },
      stopping.signal,
    );
    process.stdout.write(`arrakis agent ${agent.workerId ?? ''} serving ${flags.comfyui}\n`);
    await stopped;
    log.info({ workerId: agent.workerId }, 'stopping: releasing any running job');
    await reporter;
    await agent.stop();
  }
  await channel.close();
  await comfy.close();
}
