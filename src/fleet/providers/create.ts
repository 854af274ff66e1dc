/** Picks the provider a pool's fleet-file entry asks for. */
import type { PoolConfig } from '../fleet-file.js';
import { ProviderError, type FleetProvider } from './contract.js';
import { createModalApi, type ModalApi } from './modal-api.js';
import { ModalProvider } from './modal-provider.js';
import { ProcessProvider } from './process-provider.js';
import { StaticProvider } from './static-provider.js';

/** Builds the pool's provider; the Modal SDK is loaded only when a pool uses it (or `modalApi` is given). */
export async function createProvider(
  pool: PoolConfig,
  deps: { modalApi?: ModalApi } = {},
): Promise<FleetProvider> {
  if (pool.provider === 'static' && pool.static !== null) return new StaticProvider(pool.static.urls);
  if (pool.provider === 'process' && pool.process !== null) return new ProcessProvider(pool.process);
  if (pool.provider === 'modal' && pool.modal !== null) {
    return new ModalProvider({ api: deps.modalApi ?? (await createModalApi()), settings: pool.modal });
  }
  throw new ProviderError(`pool ${pool.name}: provider ${pool.provider} has no settings`);
}
