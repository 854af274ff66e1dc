/** Turns a command template such as `python main.py --port {port}` into argv, without a shell. */

/** Replaces `{port}` and `{gpu}` placeholders. */
export function fillTemplate(template: string, values: { port: number; gpu: string }): string {
  return template.replaceAll('{port}', String(values.port)).replaceAll('{gpu}', values.gpu);
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
