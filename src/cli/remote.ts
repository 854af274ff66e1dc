/**
 * What the commands that talk to a running control plane share (`run`, `admin`): the server URL option,
 * credentials from the environment (never flags, which `ps` shows), and errors printed as one line.
 */
import type { Command } from 'commander';
import { ArrakisError } from '../client/index.js';

export const DEFAULT_SERVER = 'http://127.0.0.1:8080';

/** Adds `--server URL` (env ARRAKIS_SERVER, default the local `arrakis dev`). */
export function withServerOption(command: Command): Command {
  return command.option(
    '--server <url>',
    `Arrakis API root (env ARRAKIS_SERVER; default ${DEFAULT_SERVER}, the local \`arrakis dev\`)`,
  );
}

/** The server URL from the flag, the environment or the default; throws on anything but http(s). */
export function serverUrl(flag: unknown): string {
  const raw = typeof flag === 'string' && flag !== '' ? flag : (process.env.ARRAKIS_SERVER ?? DEFAULT_SERVER);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`--server: "${raw}" is not a URL; give one such as ${DEFAULT_SERVER}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`--server: use an http(s) URL such as ${DEFAULT_SERVER}`);
  }
  return url.toString().replace(/\/+$/, '');
}

/** A required environment variable, or an error saying how to set it. */
export function requireEnv(name: string, what: string): string {
  const value = process.env[name];
  if (value === undefined || value.trim() === '') {
    throw new Error(`${name} is not set: export ${name}=<${what}> (\`arrakis dev\` prints one)`);
  }
  return value.trim();
}

/** One line for an error of a remote call: the server's code and explanation, or the local reason. */
export function describeError(err: unknown): string {
  if (err instanceof ArrakisError) {
    const retry = err.retryAfter === null ? '' : ` (retry after ${err.retryAfter} s)`;
    return `${err.code}: ${err.detail}${retry}`;
  }
  return err instanceof Error ? err.message : String(err);
}
