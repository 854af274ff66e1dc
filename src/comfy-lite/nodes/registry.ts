/** Every node class comfy-lite knows, by the name ComfyUI gives it. */
import { arrakisDelay } from './arrakis-delay.js';
import { arrakisEchoFile } from './arrakis-echo-file.js';
import { arrakisSample } from './arrakis-sample.js';
import { loadImageSetFromFolderNode } from './dataset-nodes.js';
import { fileNodes } from './file-nodes.js';
import { imageNodes } from './image-nodes.js';
import { loaderNodes, type LoaderOptions } from './loader-nodes.js';
import type { NodeDef } from './types.js';

export type NodeRegistry = ReadonlyMap<string, NodeDef>;

/**
 * The node classes in object_info order; the loader nodes need the models folders they load from. The test-only
 * ArrakisEchoFile, which names any path it is given, exists only when `testOnlyNodes` asks for it.
 */
export function createNodeRegistry(loaders?: LoaderOptions, testOnlyNodes = false): NodeRegistry {
  return new Map(
    Object.entries({
      ...imageNodes,
      ...fileNodes,
      LoadImageSetFromFolderNode: loadImageSetFromFolderNode,
      ...(loaders === undefined ? {} : loaderNodes(loaders)),
      ArrakisDelay: arrakisDelay,
      ArrakisSample: arrakisSample,
      ...(testOnlyNodes ? { ArrakisEchoFile: arrakisEchoFile } : {}),
    }),
  );
}
