/**
 * Turns a command template such as `python main.py --port {port}` into argv, without a shell. Words are split
 * by shell-quote with the shell's quoting and escapes; anything a shell would do beyond that (operators,
 * redirections, globs, comments, `$VAR`) is refused rather than silently dropped or passed on literally.
 */
import { parse, type ParseEntry } from 'shell-quote';

/** A `process.command` that is not plain argv (a pipe, a redirection, a glob, a variable, unbalanced quotes). */
export class CommandTemplateError extends Error {
  readonly code = 'fleet_invalid';
}

/** Replaces `{port}` and `{gpu}` placeholders. */
export function fillTemplate(template: string, values: { port: number; gpu: string }): string {
  return template.replaceAll('{port}', String(values.port)).replaceAll('{gpu}', values.gpu);
}

/** shell-quote reports a variable through the env callback; this marks where one stood. */
interface VariableEntry {
  variable: string;
}

/** Plain characters, backslash escapes, '…' and "…" (with escapes) — nothing left open at the end. */
const BALANCED = /^(?:[^'"\\]|\\.|'[^']*'|"(?:[^"\\]|\\.)*")*$/s;

const ARGV_ONLY = 'a command template is argv run without a shell';

function refusal(entry: Exclude<ParseEntry, string> | VariableEntry): string {
  if ('variable' in entry && entry.variable === '')
    return `"$" starts a shell expansion (${ARGV_ONLY}); quote it`;
  if ('variable' in entry) {
    return `$${entry.variable} is not expanded (${ARGV_ONLY}); put the value in process.env or quote it with '…'`;
  }
  if ('comment' in entry) return `# starts a comment in a shell (${ARGV_ONLY}); quote it`;
  if (entry.op === 'glob') return `"${entry.pattern}" is a glob (${ARGV_ONLY}); quote it`;
  return `"${entry.op}" is a shell operator (${ARGV_ONLY}); quote it or wrap the command in a script`;
}

function parseEntries(line: string): (ParseEntry | VariableEntry)[] {
  // shell-quote silently drops an unclosed quote or a trailing backslash; a shell would refuse the line.
  if (!BALANCED.test(line)) {
    throw new CommandTemplateError(`process.command has an unclosed quote or a trailing backslash: ${line}`);
  }
  try {
    return parse(line, (variable): VariableEntry => ({ variable }));
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new CommandTemplateError(`process.command cannot be read: ${detail}`);
  }
}

/** Why `template` is not plain argv, or null when it is (for validating a fleet file before any start). */
export function commandTemplateProblem(template: string): string | null {
  try {
    splitWords(template);
    return null;
  } catch (err) {
    if (err instanceof CommandTemplateError) return err.message;
    throw err;
  }
}

/**
 * Splits a command line into argv words with shell quoting: '…' is literal, "…" and a backslash escape as in
 * sh. Throws CommandTemplateError for anything only a shell could run.
 */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  for (const entry of parseEntries(line)) {
    if (typeof entry !== 'string') throw new CommandTemplateError(`process.command: ${refusal(entry)}`);
    words.push(entry);
  }
  return words;
}
