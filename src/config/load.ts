/**
 * Turns flags and ARRAKIS_* environment variables into one validated, frozen config (flag wins over env).
 * Called once at start; nothing else reads process.env for settings.
 */
import { Option, type Command } from 'commander';
import { z } from 'zod';
import { redactUrlPasswords } from '../util/redact.js';
import { SETTINGS, type SettingName, type SettingSpec } from './settings.js';

export type Config = { readonly [K in SettingName]: z.output<(typeof SETTINGS)[K]['schema']> };

/** A setting that could not be accepted; the message names the flag, the env variable and what is accepted. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function label(spec: SettingSpec): string {
  return `${spec.flag} (${spec.env})`;
}

/** A raw value as an error may show it: secrets hidden, passwords in URLs redacted. */
function shown(spec: SettingSpec, raw: unknown): string {
  if (spec.secret === true && raw !== undefined) return '(hidden)';
  return redactUrlPasswords(JSON.stringify(raw) ?? 'nothing');
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Adds every setting (or the named subset) as an option of `command`. */
export function addSettingOptions(
  command: Command,
  names: readonly SettingName[] = allSettingNames(),
): Command {
  for (const name of names) {
    const spec: SettingSpec = SETTINGS[name];
    const arg = spec.kind === 'boolean' ? '' : ' <value>';
    const dflt = spec.defaultText === undefined ? '' : `, default ${spec.defaultText}`;
    const option = new Option(`${spec.flag}${arg}`, `${spec.description} [env ${spec.env}${dflt}]`);
    if (spec.kind === 'list') option.argParser(collect);
    command.addOption(option);
  }
  return command;
}

export function allSettingNames(): SettingName[] {
  return Object.keys(SETTINGS) as SettingName[];
}

function attributeName(spec: SettingSpec): string {
  return new Option(`${spec.flag} <v>`).attributeName();
}

function fromString(spec: SettingSpec, raw: string): unknown {
  const text = raw.trim();
  switch (spec.kind) {
    case 'integer':
      if (!/^-?\d+$/.test(text))
        throw new ConfigError(`${label(spec)}: expected a whole number, got ${shown(spec, raw)}`);
      return Number(text);
    case 'number':
      if (text === '' || !Number.isFinite(Number(text)))
        throw new ConfigError(`${label(spec)}: expected a number, got ${shown(spec, raw)}`);
      return Number(text);
    case 'boolean':
      if (/^(1|true|yes)$/i.test(text)) return true;
      if (/^(0|false|no)$/i.test(text)) return false;
      throw new ConfigError(`${label(spec)}: expected true or false, got ${shown(spec, raw)}`);
    case 'list':
      return text
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
    case 'string':
      return text;
  }
}

function rawValue(spec: SettingSpec, flags: Record<string, unknown>, env: NodeJS.ProcessEnv): unknown {
  const flagValue = flags[attributeName(spec)];
  if (flagValue !== undefined) {
    if (Array.isArray(flagValue)) {
      return flagValue.flatMap((v) => (typeof v === 'string' ? (fromString(spec, v) as unknown[]) : [v]));
    }
    return typeof flagValue === 'string' ? fromString(spec, flagValue) : flagValue;
  }
  const envValue = env[spec.env];
  if (envValue === undefined || envValue === '') return undefined;
  return fromString(spec, envValue);
}

/**
 * Validates flags (commander's parsed options) and env against the settings table.
 * Overrides (used by `arrakis dev`) apply where neither flag nor env gave a value.
 */
export function loadConfig(
  flags: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
  overrides: Partial<Record<SettingName, unknown>> = {},
): Config {
  const out: Record<string, unknown> = {};
  for (const name of allSettingNames()) {
    const spec: SettingSpec = SETTINGS[name];
    const raw = rawValue(spec, flags, env) ?? overrides[name];
    const parsed = spec.schema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const what = issue?.message ?? 'invalid value';
      throw new ConfigError(
        `${label(spec)}: ${what}; accepted: ${spec.description}; got ${shown(spec, raw)}`,
      );
    }
    out[name] = parsed.data;
  }
  return Object.freeze(out) as Config;
}
