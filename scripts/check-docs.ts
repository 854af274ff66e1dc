/**
 * Checks the markdown users read (top-level *.md and docs/**\/*.md), which Prettier does not cover because it pads
 * every table to its widest cell: relative links and their #anchors resolve, pipe tables are well formed, and no
 * trailing whitespace, tabs or missing/extra final newline.
 *
 *   node --import tsx scripts/check-docs.ts [root=.]
 *
 * Headings are ATX (`## Title`) only, which is all these docs use; anchors follow GitHub's slug rule.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';

/** One finding, printed as `file:line: message`. */
export interface Problem {
  readonly file: string;
  readonly line: number;
  readonly message: string;
}

/** A source line with whether it sits inside a fenced code block (fence lines included). */
interface Line {
  readonly number: number;
  readonly text: string;
  readonly inFence: boolean;
}

const FENCE = /^ {0,3}(`{3,}|~{3,})/;

/** Splits text into lines and marks those inside ``` or ~~~ fences (a fence closes on the same char, as long). */
export function markFences(text: string): Line[] {
  let open: string | undefined;
  return text.split('\n').map((raw, i) => {
    const fence = FENCE.exec(raw)?.[1];
    const wasOpen = open !== undefined;
    if (fence !== undefined) {
      if (open === undefined) open = fence;
      else if (fence[0] === open[0] && fence.length >= open.length && raw.trim() === fence) open = undefined;
    }
    return { number: i + 1, text: raw, inFence: wasOpen || fence !== undefined };
  });
}

/** Replaces each inline code span (including its backticks) by spaces, so positions stay put. */
export function blankCodeSpans(line: string): string {
  let out = '';
  let i = 0;
  while (i < line.length) {
    if (line[i] !== '`') {
      out += line[i];
      i += 1;
      continue;
    }
    const run = /^`+/.exec(line.slice(i))?.[0] ?? '`';
    const close = new RegExp(`(?<!\`)${run}(?!\`)`).exec(line.slice(i + run.length));
    if (close === null) {
      out += run;
      i += run.length;
      continue;
    }
    const end = i + run.length + close.index + run.length;
    out += ' '.repeat(end - i);
    i = end;
  }
  return out;
}

/** GitHub's heading anchor: lowercase, drop punctuation but hyphens, spaces and underscores, spaces to hyphens. */
export function githubSlug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // a link or image counts as its text
    .replace(/<[^>]+>|&#?\w+;/g, ''); // tags and entities render to nothing or to punctuation
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor a markdown file offers, with duplicate headings suffixed -1, -2, ... as GitHub does. */
export function headingAnchors(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of markFences(text)) {
    const m = /^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/.exec(line.text);
    if (line.inFence || m === null) continue;
    const base = githubSlug(m[1] ?? '');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/** Link targets on one line (inline links and images, reference definitions), outside code spans. */
export function linkTargets(line: string): string[] {
  const text = blankCodeSpans(line);
  const targets: string[] = [];
  for (const m of text.matchAll(/\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)/g)) {
    targets.push((m[1] ?? '').replace(/^<|>$/g, ''));
  }
  const definition = /^ {0,3}\[[^\]]+\]:\s*(\S+)/.exec(text)?.[1];
  if (definition !== undefined) targets.push(definition.replace(/^<|>$/g, ''));
  return targets;
}

const decode = (s: string): string => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s; // a stray % is taken literally
  }
};

/** Problems with the relative links of one file: the target exists and, for markdown, so does the #anchor. */
export function checkLinks(file: string, text: string, root: string): Problem[] {
  const problems: Problem[] = [];
  const anchorsOf = new Map([[file, headingAnchors(text)]]); // the file itself: from the text given
  const anchors = (path: string): Set<string> => {
    let set = anchorsOf.get(path);
    if (set === undefined) anchorsOf.set(path, (set = headingAnchors(readFileSync(path, 'utf8'))));
    return set;
  };
  for (const line of markFences(text)) {
    if (line.inFence) continue;
    for (const target of linkTargets(line.text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) continue; // http:, mailto:, ...
      const hashAt = target.indexOf('#');
      const pathPart = decode(hashAt < 0 ? target : target.slice(0, hashAt)).replace(/\?.*$/, '');
      const anchor = hashAt < 0 ? undefined : decode(target.slice(hashAt + 1));
      const base = pathPart.startsWith('/') ? root : dirname(file);
      const path = pathPart === '' ? file : resolve(base, pathPart.replace(/^\//, ''));
      const at = { file, line: line.number };
      if (path !== file && !existsSync(path)) {
        problems.push({ ...at, message: `broken link: ${target} (no such file)` });
      } else if (anchor && extname(path) === '.md' && !anchors(path).has(anchor)) {
        problems.push({ ...at, message: `broken link: ${target} (no heading with anchor #${anchor})` });
      }
    }
  }
  return problems;
}

/** The cells of a table row: split on unescaped pipes outside code spans, minus the outer pipes. */
export function tableCells(row: string): string[] {
  const text = blankCodeSpans(row.replace(/\\\\/g, '  ').replace(/\\\|/g, '  ')).trim();
  const inner = text.replace(/^\|/, '').replace(/\|$/, '');
  return inner.split('|');
}

const hasPipe = (line: string): boolean => tableCells(line).length > 1 || /^\s*\|/.test(line);
const looksLikeDelimiter = (line: string): boolean =>
  /^[\s|:-]+$/.test(line) && /-/.test(line) && /\|/.test(line);

/** Problems with the pipe tables of one file: a well-formed delimiter row, and the header's cell count on every row. */
export function checkTables(file: string, text: string): Problem[] {
  const problems: Problem[] = [];
  const lines = markFences(text);
  for (let i = 0; i < lines.length; i += 1) {
    const header = lines[i];
    const delimiter = lines[i + 1];
    if (header === undefined || delimiter === undefined || header.inFence || delimiter.inFence) continue;
    if (!hasPipe(header.text) || !looksLikeDelimiter(delimiter.text)) continue;
    const width = tableCells(header.text).length;
    const at = (line: Line, message: string): void =>
      void problems.push({ file, line: line.number, message });
    const delimiterCells = tableCells(delimiter.text);
    if (!delimiterCells.every((cell) => /^\s*:?-+:?\s*$/.test(cell))) {
      at(delimiter, 'table delimiter row is malformed (each cell must be ---, :---, ---: or :---:)');
    }
    if (delimiterCells.length !== width) {
      at(delimiter, `table delimiter row has ${delimiterCells.length} cells, header has ${width}`);
    }
    let j = i + 2;
    for (; j < lines.length; j += 1) {
      const row = lines[j];
      if (row === undefined || row.inFence || row.text.trim() === '' || !hasPipe(row.text)) break;
      const cells = tableCells(row.text).length;
      if (cells !== width) at(row, `table row has ${cells} cells, header has ${width}`);
    }
    for (const row of [header, ...lines.slice(i + 2, j)]) {
      if (!codeSpanPipe(row.text)) continue;
      at(row, 'unescaped | inside a code span splits the cell on GitHub; write \\|');
    }
    i = j - 1;
  }
  return problems;
}

/** Whether a code span on the line holds a pipe that is not backslash-escaped. */
function codeSpanPipe(row: string): boolean {
  const blanked = blankCodeSpans(row);
  for (let k = 0; k < row.length; k += 1) {
    if (row[k] === '|' && blanked[k] === ' ' && row[k - 1] !== '\\') return true;
  }
  return false;
}

/** Problems with whitespace: trailing spaces, tabs outside code fences, and a file not ending in one newline. */
export function checkWhitespace(file: string, text: string): Problem[] {
  const problems: Problem[] = [];
  const lines = markFences(text);
  for (const line of lines) {
    if (/[ \t\r]+$/.test(line.text))
      problems.push({ file, line: line.number, message: 'trailing whitespace' });
    if (!line.inFence && line.text.includes('\t')) {
      problems.push({ file, line: line.number, message: 'tab character outside a code block' });
    }
  }
  if (!text.endsWith('\n') || text.endsWith('\n\n') || text === '\n') {
    const last = text.endsWith('\n') ? lines.length - 1 : lines.length;
    problems.push({ file, line: Math.max(last, 1), message: 'file must end with exactly one newline' });
  }
  return problems;
}

/** The markdown files checked: top-level *.md and everything under docs/. */
export function docFiles(root: string): string[] {
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((entry) => {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) return walk(path);
      return entry.endsWith('.md') ? [path] : [];
    });
  const top = readdirSync(root)
    .filter((entry) => entry.endsWith('.md') && statSync(join(root, entry)).isFile())
    .map((entry) => join(root, entry));
  const docs = existsSync(join(root, 'docs')) ? walk(join(root, 'docs')) : [];
  return [...top, ...docs].sort();
}

/** Every problem in the docs under root, with file paths relative to root. */
export function checkDocs(root: string): Problem[] {
  return docFiles(root).flatMap((path) => {
    const text = readFileSync(path, 'utf8');
    const found = [
      ...checkLinks(path, text, root),
      ...checkTables(path, text),
      ...checkWhitespace(path, text),
    ];
    return found
      .map((p) => ({ ...p, file: relative(root, p.file).split(sep).join('/') }))
      .sort((a, b) => a.line - b.line);
  });
}

function main(): void {
  const root = resolve(process.argv[2] ?? '.');
  const problems = checkDocs(root);
  for (const p of problems) console.error(`${p.file}:${p.line}: ${p.message}`);
  const files = docFiles(root).length;
  if (problems.length > 0) {
    console.error(`check-docs: ${problems.length} problem(s) in ${files} markdown files`);
    process.exit(1);
  }
  console.log(`check-docs: ${files} markdown files OK`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();
