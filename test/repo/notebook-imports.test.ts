// The modules the notebooks import, type-checked the way tslab compiles them: not strict (no strictNullChecks, so
// narrowing by `!x ||` is lost), Node10 resolution, ES2022. `npm run typecheck` (strict) passes code that tslab
// rejects; this catches it in `npm test` rather than in the notebooks' CI step. Options copied from
// node_modules/tslab/dist/converter.js (createWatchCompilerHost).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const dir = path.resolve('notebooks');
const source = (cell: { source?: string | string[] }) => (Array.isArray(cell.source) ? cell.source.join('') : cell.source ?? '');

/** Every `./src/...` module a committed notebook imports, as a .ts path. */
function notebookImports(): string[] {
  const roots = new Set<string>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ipynb'))) {
    const nb = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as { cells: { cell_type: string; source?: string | string[] }[] };
    for (const cell of nb.cells.filter((c) => c.cell_type === 'code')) {
      for (const m of source(cell).matchAll(/from '\.\/(src\/[^']+)'/g)) roots.add(`${m[1]!.replace(/\.js$/, '')}.ts`);
    }
  }
  return [...roots].sort();
}

describe('modules the notebooks import', () => {
  it('compile under tslab\'s compiler options', () => {
    const roots = notebookImports();
    expect(roots.length).toBeGreaterThan(5);
    const program = ts.createProgram(roots, {
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Node10,
      esModuleInterop: true,
      target: ts.ScriptTarget.ES2022,
      lib: ['lib.es2022.d.ts'],
      resolveJsonModule: true,
      skipLibCheck: true,
      noEmit: true,
      types: ['node'],
    });
    const problems = ts.getPreEmitDiagnostics(program).map((d) => {
      const where = d.file && d.start !== undefined ? `${path.relative('.', d.file.fileName)}:${d.file.getLineAndCharacterOfPosition(d.start).line + 1}` : '';
      return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
    });
    expect(problems).toEqual([]);
  }, 60_000);
});
