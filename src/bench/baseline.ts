/** A previous report.json (`--baseline`) as figure values by `check.figure`, parsed loosely. */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';

const baselineSchema = z.looseObject({
  started_at: z.string().optional(),
  checks: z.array(
    z.looseObject({
      name: z.string(),
      status: z.string(),
      figures: z
        .record(z.string(), z.looseObject({ value: z.unknown(), unit: z.string().optional() }))
        .optional(),
    }),
  ),
});

export interface Baseline {
  path: string;
  startedAt: string | null;
  /** `cold.queue_wait` → 3.1 */
  values: ReadonlyMap<string, number | boolean | string | null>;
  statuses: ReadonlyMap<string, string>;
}

export async function loadBaseline(path: string): Promise<Baseline> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new Error(`--baseline ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const parsed = baselineSchema.safeParse(json);
  if (!parsed.success) throw new Error(`--baseline ${path} is not an arrakis bench report.json`);
  const values = new Map<string, number | boolean | string | null>();
  const statuses = new Map<string, string>();
  for (const check of parsed.data.checks) {
    statuses.set(check.name, check.status);
    for (const [key, figure] of Object.entries(check.figures ?? {})) {
      const v = figure.value;
      if (v === null || typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') {
        values.set(`${check.name}.${key}`, v);
      }
    }
  }
  return { path, startedAt: parsed.data.started_at ?? null, values, statuses };
}
