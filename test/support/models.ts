/** Shared by the model end-to-end test and bench: a txt2img-shaped workflow and a models folder. */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

let seq = 0;

/** CheckpointLoaderSimple → ArrakisSample → SaveImage on checkpoint `ckpt`. */
export function txt2img(ckpt: string, o: { steps?: number; secondsPerStep?: number } = {}) {
  seq++;
  return {
    '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: ckpt } },
    '2': {
      class_type: 'ArrakisSample',
      inputs: {
        model: ['1', 0],
        width: 16,
        height: 16,
        steps: o.steps ?? 2,
        seconds_per_step: o.secondsPerStep ?? 0,
        seed: seq,
      },
    },
    '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: `m${seq}` } },
  };
}

/** Writes fake model files (`folder/name` → bytes) under `modelsDir`. */
export async function writeModels(modelsDir: string, files: Record<string, string | Buffer>): Promise<void> {
  for (const [path, bytes] of Object.entries(files)) {
    await mkdir(dirname(join(modelsDir, path)), { recursive: true });
    await writeFile(join(modelsDir, path), bytes);
  }
}
