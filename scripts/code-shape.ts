/**
 * The shape of the source tree: files and lines per top-level folder of src/, and the longest functions.
 * Used for the before/after figures of a redesign: run it on two checkouts and compare.
 *
 *   node --import tsx scripts/code-shape.ts [root=src] [--top N]
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import ts from 'typescript';

interface FunctionSize {
  readonly where: string;
  readonly name: string;
  readonly lines: number;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (entry.endsWith('.ts') && !entry.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

function functionName(node: ts.Node): string {
  if ((ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node)) && node.name !== undefined) {
    return node.name.getText();
  }
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent)) return parent.name.getText();
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  return '(anonymous)';
}

function functionSizes(path: string, root: string): FunctionSize[] {
  const text = readFileSync(path, 'utf8');
  const file = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
  const sizes: FunctionSize[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body !== undefined) {
      const start = file.getLineAndCharacterOfPosition(node.getStart(file)).line;
      const end = file.getLineAndCharacterOfPosition(node.getEnd()).line;
      sizes.push({
        where: `${relative(root, path)}:${start + 1}`,
        name: functionName(node),
        lines: end - start + 1,
      });
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return sizes;
}

function main(): void {
  const args = process.argv.slice(2);
  const topAt = args.indexOf('--top');
  const top = topAt >= 0 ? Number(args[topAt + 1]) : 10;
  const root = args.find((a, i) => !a.startsWith('--') && i !== topAt + 1) ?? 'src';
  const files = sourceFiles(root);
  const folders = new Map<string, { files: number; lines: number }>();
  for (const path of files) {
    const parts = relative(root, path).split(sep);
    const folder = parts.length > 1 ? `${parts[0]}/` : '(top)';
    const entry = folders.get(folder) ?? { files: 0, lines: 0 };
    entry.files += 1;
    entry.lines += readFileSync(path, 'utf8').split('\n').length;
    folders.set(folder, entry);
  }
  console.log(`${files.length} files under ${root}/`);
  for (const [folder, f] of [...folders].sort((a, b) => a[0].localeCompare(b[0]))) {
    console.log(
      `  ${folder.padEnd(14)} ${String(f.files).padStart(4)} files ${String(f.lines).padStart(7)} lines`,
    );
  }
  const sizes = files.flatMap((path) => functionSizes(path, root)).sort((a, b) => b.lines - a.lines);
  console.log(`longest functions:`);
  for (const s of sizes.slice(0, top)) console.log(`  ${String(s.lines).padStart(4)}  ${s.name}  ${s.where}`);
}

main();
