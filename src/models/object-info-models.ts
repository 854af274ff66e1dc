/**
 * The model files a ComfyUI can load, read from `/object_info`: each loader's file-name input is a combo
 * whose first element is the list of files in its models folder (comfyui-protocol.md, "object_info").
 */
import { z } from 'zod';
import type { LoaderInput } from './model-refs.js';

const nodeInfo = z.object({
  input: z
    .object({ required: z.record(z.string(), z.unknown()).optional() })
    .partial()
    .passthrough()
    .optional(),
});

/** The file names listed by the loaders in an `/object_info` answer. Unknown shapes are skipped. */
export function availableModels(objectInfo: unknown, loaders: readonly LoaderInput[]): string[] {
  const parsedInfo = z.record(z.string(), z.unknown()).safeParse(objectInfo);
  if (!parsedInfo.success) return [];
  const info = parsedInfo.data;
  const out = new Set<string>();
  for (const l of loaders) {
    const parsed = nodeInfo.safeParse(info[l.classType]);
    if (!parsed.success) continue;
    const spec = parsed.data.input?.required?.[l.input];
    const files = Array.isArray(spec) ? spec[0] : undefined;
    if (!Array.isArray(files)) continue;
    // Loaders also list virtual choices that are no file (VAELoader's `pixel_space`, `taesd`): files have a suffix.
    for (const f of files) if (typeof f === 'string' && /\.[A-Za-z0-9]+$/.test(f)) out.add(f);
  }
  return [...out].sort();
}

/** Reads `/object_info` from the ComfyUI at `baseUrl` (10 s timeout) and lists its loadable files. */
export async function fetchAvailableModels(
  baseUrl: string,
  loaders: readonly LoaderInput[],
): Promise<string[]> {
  const res = await fetch(new URL('/object_info', baseUrl), { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`/object_info answered ${res.status}`);
  return availableModels(await res.json(), loaders);
}
