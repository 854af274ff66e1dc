/**
 * The `modal` provider: each worker is a Modal Sandbox on a GPU, from a container image with ComfyUI,
 * reached through the encrypted tunnel of ComfyUI's port and terminated on scale-down. GPU types are tried in
 * the pool's preference order: when Modal refuses one, the next is asked for.
 */
import type { ModalSettings, PoolConfig } from '../fleet-file.js';
import {
  ProviderError,
  type FleetProvider,
  type ListedWorker,
  type StartSpec,
  type StartedWorker,
} from './contract.js';
import type { ModalApi } from './modal-api.js';

export interface ModalProviderOptions {
  api: ModalApi;
  settings: ModalSettings;
  /** True once ComfyUI answers at `url` (default: GET {url}/system_stats is 200). */
  probe?: (url: string) => Promise<boolean>;
  /** Pause between readiness probes. */
  probeIntervalMs?: number;
  /** Tag that marks this deployment's sandboxes, so list() sees only ours. */
  fleetTag?: string;
}

async function systemStatsAnswers(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/system_stats`, { signal: AbortSignal.timeout(5_000) });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}

export class ModalProvider implements FleetProvider {
  readonly kind = 'modal';
  private readonly probe: (url: string) => Promise<boolean>;
  private readonly urls = new Map<string, string>();

  constructor(private readonly opts: ModalProviderOptions) {
    this.probe = opts.probe ?? systemStatsAnswers;
  }

  private tags(pool: string, workerId?: string): Record<string, string> {
    return {
      'arrakis-fleet': this.opts.fleetTag ?? 'arrakis',
      'arrakis-pool': pool,
      ...(workerId === undefined ? {} : { 'arrakis-worker': workerId }),
    };
  }

  /** Creates the sandbox (first GPU type Modal accepts); `ready` waits for the tunnel and ComfyUI. */
  async start(pool: PoolConfig, spec: StartSpec): Promise<StartedWorker> {
    const s = this.opts.settings;
    const gpus: Array<string | null> = pool.gpus.length > 0 ? pool.gpus : [null];
    const failures: string[] = [];
    for (const gpu of gpus) {
      try {
        const id = await this.opts.api.createSandbox({
          app: s.app,
          image: s.image,
          gpu,
          timeoutMs: s.timeoutMs,
          command: s.command,
          encryptedPorts: [s.port],
          env: s.env,
          regions: s.regions,
          tags: this.tags(pool.name, spec.workerId),
        });
        return { ref: id, ready: this.awaitReady(id) };
      } catch (err) {
        failures.push(`${gpu ?? 'default gpu'}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    throw new ProviderError(`pool ${pool.name}: Modal refused every GPU type (${failures.join('; ')})`);
  }

  private async awaitReady(id: string): Promise<string> {
    const s = this.opts.settings;
    const deadline = Date.now() + s.readyTimeoutMs;
    try {
      const url = await this.opts.api.tunnelUrl(id, s.port, s.readyTimeoutMs);
      // Bounded by the deadline: ComfyUI loads its models after the container is up.
      while (!(await this.probe(url))) {
        if (Date.now() >= deadline)
          throw new ProviderError(`sandbox ${id}: ComfyUI not answering after ${s.readyTimeoutMs} ms`);
        await new Promise((r) => setTimeout(r, this.opts.probeIntervalMs ?? 2_000));
      }
      this.urls.set(id, url);
      return url;
    } catch (err) {
      await this.stop(id);
      throw err;
    }
  }

  /** Terminates the sandbox; one that is already gone is fine. */
  async stop(ref: string): Promise<void> {
    this.urls.delete(ref);
    try {
      await this.opts.api.terminate(ref);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (!/not.?found|terminated/i.test(message)) throw new ProviderError(`terminate ${ref}: ${message}`);
    }
  }

  /** Running sandboxes tagged as this fleet's. */
  async list(): Promise<ListedWorker[]> {
    const ids = await this.opts.api.listSandboxes(this.opts.settings.app, {
      'arrakis-fleet': this.opts.fleetTag ?? 'arrakis',
    });
    return ids.map((ref) => ({ ref, comfyUrl: this.urls.get(ref) ?? null }));
  }
}
