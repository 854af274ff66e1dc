/** Every node class comfy-lite knows, by the name ComfyUI gives it. */
import { arrakisDelay } from './arrakis-delay.js';
import { loadImageSetFromFolderNode } from './dataset-nodes.js';
import { fileNodes } from './file-nodes.js';
import { imageNodes } from './image-nodes.js';
import type { NodeDef } from './types.js';

export type NodeRegistry = ReadonlyMap<string, NodeDef>;

/** The node classes in object_info order. */
export function createNodeRegistry(): NodeRegistry {
  return new Map(
    Object.entries({
      ...imageNodes,
      ...fileNodes,
      LoadImageSetFromFolderNode: loadImageSetFromFolderNode,
      ArrakisDelay: arrakisDelay,
    }),
  );
}
