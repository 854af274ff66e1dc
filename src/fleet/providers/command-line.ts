/** Turns a command template such as `python main.py --port {port}` into argv, without a shell. */

/** Replaces `{port}`, `{gpu}` and, when given, `{worker}` and `{models_dir}` placeholders. */
export function fillTemplate(
  template: string,
  values: { port: number; gpu: string; worker?: string; modelsDir?: string },
): string {
  let out = template.replaceAll('{port}', String(values.port)).replaceAll('{gpu}', values.gpu);
  if (values.worker !== undefined) out = out.replaceAll('{worker}', values.worker);
  if (values.modelsDir !== undefined) out = out.replaceAll('{models_dir}', values.modelsDir);
  return out;
}

/** Splits a command line into words; single and double quotes group words, as in a shell. */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let quote: '"' | "'" | null = null;
  let inWord = false;
  for (const ch of line) {
    if (quote !== null) {
      if (ch === quote) quote = null;
      else word += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}
