/**
 * ArrakisEchoFile: a comfy-lite test-only node. Its UI output names whatever file its inputs say, as a custom
 * node that echoes a user-chosen path would; tests use it to prove the agent stores only the job's own files.
 * Registered only when comfy-lite starts with `testOnlyNodes` (no CLI flag): a default instance has no such node.
 */
import { arrakisEchoFileInfo } from './object-info.js';
import { str, type NodeDef } from './types.js';

export const arrakisEchoFile: NodeDef = {
  info: () => arrakisEchoFileInfo,
  run: async (inputs) => {
    const ref = {
      filename: str(inputs, 'filename'),
      subfolder: str(inputs, 'subfolder'),
      type: str(inputs, 'folder_type'),
    };
    return await Promise.resolve({ result: [], ui: { images: [ref] } });
  },
};
