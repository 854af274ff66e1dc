/** The package version, read from package.json beside the sources (a checkout or an installed package). */
import { readFileSync } from 'node:fs';
import { z } from 'zod';

/** `version` of this package's package.json. */
export function packageVersion(): string {
  const raw: unknown = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  return z.object({ version: z.string() }).parse(raw).version;
}
