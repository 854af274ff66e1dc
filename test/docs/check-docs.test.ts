/** The docs checker (scripts/check-docs.ts): links and anchors, pipe tables, whitespace, on small temp trees. */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  checkDocs,
  checkLinks,
  checkTables,
  checkWhitespace,
  githubSlug,
  headingAnchors,
} from '../../scripts/check-docs.js';

let root: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'arrakis-check-docs-'));
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

/** Writes the files (path relative to root → text) and returns root. */
function tree(files: Record<string, string>): string {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const messages = (problems: readonly { line: number; message: string }[]): string[] =>
  problems.map((p) => `${p.line}: ${p.message}`);

describe('heading anchors', () => {
  it('follow GitHub: lowercase, punctuation and backticks dropped, spaces to hyphens', () => {
    expect(githubSlug('Validating a deployment: `arrakis bench`')).toBe(
      'validating-a-deployment-arrakis-bench',
    );
    expect(githubSlug('What? Retries, back-off & limits (v2.1)')).toBe('what-retries-back-off--limits-v21');
    expect(githubSlug('The `max_active_jobs` setting')).toBe('the-max_active_jobs-setting');
    expect(githubSlug('Überblick der Größen')).toBe('überblick-der-größen');
    expect(githubSlug('See [the store](store.md)')).toBe('see-the-store');
  });

  it('suffix duplicate headings -1, -2 and ignore # lines inside code fences', () => {
    const text = '# Pools\n## Pools\n```sh\n# Pools\n```\n### Pools ###\n## Other\n';
    expect([...headingAnchors(text)]).toEqual(['pools', 'pools-1', 'pools-2', 'other']);
  });
});

describe('links', () => {
  it('accept existing files, headings in other files and in the same file', () => {
    tree({ 'docs/b.md': '# B\n## Second part\n## Second part\n', 'src/x.ts': '' });
    const text = [
      '# A',
      '[b](docs/b.md) [part](docs/b.md#second-part) [again](docs/b.md#second-part-1)',
      '[self](#a) [code](src/x.ts#L3) [dir](docs/) [web](https://example.com/#nope) [mail](mailto:a@b.c)',
      '',
    ].join('\n');
    expect(checkLinks(join(root, 'README.md'), text, root)).toEqual([]);
  });

  it('report a missing file, a missing heading, and a missing heading in the same file', () => {
    tree({ 'docs/b.md': '# B\n' });
    const file = join(root, 'docs', 'a.md');
    const text = '# A\n\nSee [c](c.md),\n[b](b.md#nope) and [self](#a-typo).\n';
    expect(messages(checkLinks(file, text, root))).toEqual([
      '3: broken link: c.md (no such file)',
      '4: broken link: b.md#nope (no heading with anchor #nope)',
      '4: broken link: #a-typo (no heading with anchor #a-typo)',
    ]);
  });

  it('ignore links inside code fences and inline code spans', () => {
    const text =
      '# A\n\n```md\n[x](missing.md)\n```\n\n~~~\n[y](#nope)\n~~~\n\nUse `[z](missing.md)` here.\n';
    expect(checkLinks(join(root, 'a.md'), text, root)).toEqual([]);
    expect(checkLinks(join(root, 'a.md'), '[z](missing.md)\n', root)).toHaveLength(1);
  });
});

describe('tables', () => {
  it('accept rows matching the header, counting escaped pipes and code spans as cell text', () => {
    const text = [
      '| flag | values |',
      '| :--- | ---: |',
      '| `--mode` | `a\\|b` |',
      '| `--kind` | checkpoint\\|lora |',
      '',
      'a | b',
      '--|--',
      '1 | 2',
      '',
    ].join('\n');
    expect(checkTables('a.md', text)).toEqual([]);
  });

  it('report a row with the wrong number of cells', () => {
    const text = '| a | b |\n| --- | --- |\n| 1 | 2 | 3 |\n| 4 |\n';
    expect(messages(checkTables('a.md', text))).toEqual([
      '3: table row has 3 cells, header has 2',
      '4: table row has 1 cells, header has 2',
    ]);
  });

  it('report a malformed delimiter row and one whose width differs from the header', () => {
    expect(messages(checkTables('a.md', '| a | b |\n| --- | :-:- |\n'))).toEqual([
      '2: table delimiter row is malformed (each cell must be ---, :---, ---: or :---:)',
    ]);
    expect(messages(checkTables('a.md', '| a | b |\n| --- |\n'))).toEqual([
      '2: table delimiter row has 1 cells, header has 2',
    ]);
  });

  it('report an unescaped pipe inside a code span, which GitHub splits the cell on', () => {
    const text = '| a | b |\n| --- | --- |\n| `x|y` | z |\n';
    expect(messages(checkTables('a.md', text))).toEqual([
      '3: unescaped | inside a code span splits the cell on GitHub; write \\|',
    ]);
  });

  it('ignore tables inside code fences', () => {
    expect(checkTables('a.md', '```\n| a | b |\n| --- | --- |\n| 1 |\n```\n')).toEqual([]);
  });
});

describe('whitespace', () => {
  it('accept a clean file, with tabs inside a code fence', () => {
    expect(checkWhitespace('a.md', '# A\n\n```make\nall:\n\techo hi\n```\n')).toEqual([]);
  });

  it('report trailing whitespace, tabs outside fences, and a wrong file ending', () => {
    expect(messages(checkWhitespace('a.md', '# A \n\tindented\n'))).toEqual([
      '1: trailing whitespace',
      '2: tab character outside a code block',
    ]);
    expect(messages(checkWhitespace('a.md', '# A\ntext'))).toEqual([
      '2: file must end with exactly one newline',
    ]);
    expect(messages(checkWhitespace('a.md', '# A\ntext\n\n'))).toEqual([
      '3: file must end with exactly one newline',
    ]);
  });
});

describe('check-docs', () => {
  const clean = {
    'README.md': '# R\n\n[docs](docs/guide/a.md#a)\n',
    'docs/guide/a.md': '# A\n',
    'src/n.md': 'x',
  };

  it('checks top-level *.md and docs/**, not other folders, with root-relative paths', () => {
    tree({ ...clean, 'docs/guide/a.md': '# A\n[b](b.md)\n', 'CONTRIBUTING.md': '# C \n' });
    expect(checkDocs(root).map((p) => `${p.file}:${p.line}: ${p.message}`)).toEqual([
      'CONTRIBUTING.md:1: trailing whitespace',
      'docs/guide/a.md:2: broken link: b.md (no such file)',
    ]);
  });

  it('exits 0 with a summary when clean and 1 with file:line lines when not', () => {
    const run = () =>
      spawnSync(process.execPath, ['--import', 'tsx', 'scripts/check-docs.ts', root], { encoding: 'utf8' });
    tree(clean);
    const ok = run();
    expect([ok.status, ok.stdout.trim()]).toEqual([0, 'check-docs: 2 markdown files OK']);
    tree({ 'README.md': '# R\n\n[docs](docs/guide/a.md#b)\n' });
    const bad = run();
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('README.md:3: broken link: docs/guide/a.md#b (no heading with anchor #b)\n');
  });
});
