/**
 * The narrow boundary between Arrakis and Modal's JS SDK (npm `modal@0.11.x`): the four calls the modal
 * provider makes. Tests run the provider against a fake of this interface; `createModalApi` is the real
 * adapter. The SDK is imported lazily because it needs Node 22+ and Arrakis itself runs on Node 20.
 */
import type { App, Image, ModalClient, Sandbox } from 'modal';

export interface ModalSandboxRequest {
  app: string;
  image: string;
  gpu: string | null;
  timeoutMs: number;
  command: string[] | null;
  /** Container ports to expose through TLS tunnels. */
  encryptedPorts: number[];
  env: Record<string, string>;
  regions: string[] | null;
  tags: Record<string, string>;
}

export interface ModalApi {
  /** Creates a sandbox and returns its id. */
  createSandbox(req: ModalSandboxRequest): Promise<string>;
  /** The public HTTPS URL of a container port's tunnel, waiting up to `timeoutMs` for it. */
  tunnelUrl(sandboxId: string, port: number, timeoutMs: number): Promise<string>;
  terminate(sandboxId: string): Promise<void>;
  /** Ids of running sandboxes of the app that carry all the given tags. */
  listSandboxes(app: string, tags: Record<string, string>): Promise<string[]>;
}

/** The real adapter over `modal`'s ModalClient (credentials from MODAL_TOKEN_ID / MODAL_TOKEN_SECRET or ~/.modal.toml). */
export async function createModalApi(): Promise<ModalApi> {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 22) {
    throw new Error(
      `the modal provider needs Node.js 22 or later (the modal SDK requires it); this is ${process.version}`,
    );
  }
  const sdk = await import('modal');
  return new SdkModalApi(new sdk.ModalClient());
}

class SdkModalApi implements ModalApi {
  private readonly apps = new Map<string, Promise<App>>();
  private readonly images = new Map<string, Image>();
  private readonly sandboxes = new Map<string, Sandbox>();

  constructor(private readonly client: ModalClient) {}

  private app(name: string): Promise<App> {
    let app = this.apps.get(name);
    if (app === undefined) {
      app = this.client.apps.fromName(name, { createIfMissing: true });
      this.apps.set(name, app);
    }
    return app;
  }

  private image(tag: string): Image {
    let image = this.images.get(tag);
    if (image === undefined) {
      image = this.client.images.fromRegistry(tag);
      this.images.set(tag, image);
    }
    return image;
  }

  private async sandbox(id: string): Promise<Sandbox> {
    return this.sandboxes.get(id) ?? (await this.client.sandboxes.fromId(id));
  }

  async createSandbox(req: ModalSandboxRequest): Promise<string> {
    const sb = await this.client.sandboxes.create(await this.app(req.app), this.image(req.image), {
      ...(req.gpu === null ? {} : { gpu: req.gpu }),
      ...(req.command === null ? {} : { command: req.command }),
      ...(req.regions === null ? {} : { regions: req.regions }),
      timeoutMs: req.timeoutMs,
      encryptedPorts: req.encryptedPorts,
      env: req.env,
      tags: req.tags,
    });
    this.sandboxes.set(sb.sandboxId, sb);
    return sb.sandboxId;
  }

  async tunnelUrl(sandboxId: string, port: number, timeoutMs: number): Promise<string> {
    const tunnels = await (await this.sandbox(sandboxId)).tunnels(timeoutMs);
    const tunnel = tunnels[port];
    if (tunnel === undefined) throw new Error(`sandbox ${sandboxId} has no tunnel for port ${port}`);
    return tunnel.url;
  }

  async terminate(sandboxId: string): Promise<void> {
    await (await this.sandbox(sandboxId)).terminate();
    this.sandboxes.delete(sandboxId);
  }

  async listSandboxes(app: string, tags: Record<string, string>): Promise<string[]> {
    const ids: string[] = [];
    for await (const sb of this.client.sandboxes.list({ appId: (await this.app(app)).appId, tags })) {
      ids.push(sb.sandboxId);
    }
    return ids;
  }
}
