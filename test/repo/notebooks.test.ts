// The notebooks as committed (nbformat 4, the project's tslab kernel, outputs cleared, figures listed), and the
// checks scripts/notebooks.mjs applies to executed copies. No Jupyter runs here: `npm run notebooks` executes them.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { figuresShown, notebookProblems, type Notebook, type NotebookCell } from '../../scripts/notebooks.mjs';

const dir = path.resolve('notebooks');
const files = readdirSync(dir).filter((f) => f.endsWith('.ipynb')).sort();
const source = (cell: { source?: string | string[] }) => (Array.isArray(cell.source) ? cell.source.join('') : cell.source ?? '');

describe('committed notebooks', () => {
  it('are the seven of the project, numbered in reading order', () => {
    expect(files).toEqual([
      '01-quickstart.ipynb', '02-sweep-clusters-and-budgets.ipynb', '03-compare-methods.ipynb',
      '04-gpu-kernel-latency.ipynb', '05-real-model.ipynb', '06-export.ipynb', '07-passkey.ipynb',
    ]);
  });

  for (const file of files) {
    describe(file, () => {
      const nb = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));

      it('is nbformat 4 with the clusterkv-tslab TypeScript kernel', () => {
        expect(nb.nbformat).toBe(4);
        expect(nb.nbformat_minor).toBeGreaterThanOrEqual(4);
        expect(nb.metadata.kernelspec).toMatchObject({ name: 'clusterkv-tslab', language: 'typescript' });
        expect(nb.metadata.language_info?.name).toBe('typescript');
        expect(Array.isArray(nb.cells) && nb.cells.length).toBeTruthy();
        for (const cell of nb.cells) expect(['markdown', 'code']).toContain(cell.cell_type);
        if (nb.nbformat_minor >= 5) {
          const ids = nb.cells.map((c: { id?: string }) => c.id);
          expect(ids.every((id: unknown) => typeof id === 'string' && /^[a-zA-Z0-9-_]{1,64}$/.test(id))).toBe(true);
          expect(new Set(ids).size).toBe(ids.length);
        }
      });

      it('has its outputs cleared', () => {
        for (const cell of nb.cells.filter((c: NotebookCell) => c.cell_type === 'code')) {
          expect(cell.execution_count, source(cell).slice(0, 60)).toBeNull();
          expect(cell.outputs, source(cell).slice(0, 60)).toEqual([]);
        }
      });

      it('lists the figures it shows in metadata.clusterkv.figures', () => {
        const figures = nb.metadata.clusterkv?.figures;
        expect(Array.isArray(figures) && figures.length > 0).toBe(true);
        for (const id of figures) expect(id).toMatch(/^[a-z0-9][a-z0-9-]*$/);
        expect(new Set(figures).size).toBe(figures.length);
        const code = nb.cells.filter((c: NotebookCell) => c.cell_type === 'code').map(source).join('\n');
        expect((code.match(/notebookHtml\(/g) ?? []).length).toBeGreaterThanOrEqual(figures.length);
      });

      it('imports the library from ./src (the kernel starts in the project root) and starts with a title', () => {
        const code = nb.cells.filter((c: NotebookCell) => c.cell_type === 'code').map(source).join('\n');
        expect(code).not.toMatch(/from '\.\.\/src\//);
        expect(code).toMatch(/from '\.\/src\//);
        expect(nb.cells[0].cell_type).toBe('markdown');
        expect(source(nb.cells[0])).toMatch(new RegExp(`^# ${file.slice(0, 2)} `));
      });
    });
  }
});

/** An executed notebook as nbclient writes it: a figure output per id, plus the given extra outputs. */
function executed(figures: string[], shown: string[], extra: NotebookCell['outputs'] = []): Notebook {
  return {
    metadata: { clusterkv: { figures } },
    cells: [
      { cell_type: 'markdown', source: '# title' },
      { cell_type: 'code', execution_count: 1, outputs: [{ output_type: 'stream', name: 'stdout', text: ['tfjs backend: wasm\n'] }] },
      ...shown.map((id, i) => ({
        cell_type: 'code',
        execution_count: i + 2,
        outputs: [{ output_type: 'display_data', data: { 'text/html': [`<div class="clusterkv-figure" data-clusterkv-figure="${id}" id="fig-${id}-1-${i}"></div>\n`, '<script>draw()</script>'], 'text/plain': [''] } }],
      })),
      { cell_type: 'code', execution_count: 99, outputs: extra },
    ],
  };
}

describe('scripts/notebooks.mjs checks of executed notebooks', () => {
  it('pass a notebook that ran and shows every listed figure', () => {
    const nb = executed(['recall-vs-budget', 'cache-hit-rate'], ['recall-vs-budget', 'cache-hit-rate']);
    expect(notebookProblems(nb)).toEqual([]);
    expect([...figuresShown(nb)].sort()).toEqual(['cache-hit-rate', 'recall-vs-budget']);
  });

  it('flag a listed figure that no output shows', () => {
    const problems = notebookProblems(executed(['recall-vs-budget', 'cache-hit-rate'], ['recall-vs-budget']));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/figure 'cache-hit-rate' is not among the outputs \(shown: recall-vs-budget\)/);
  });

  it('flag a cell error with its message', () => {
    const error = { output_type: 'error', ename: 'ReferenceError', evalue: 'backend is not defined', traceback: ['at evalmachine.<anonymous>:6:81'] };
    const problems = notebookProblems(executed(['recall-vs-budget'], ['recall-vs-budget'], [error]));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^cell 4 failed: ReferenceError: backend is not defined/);
  });

  it('flag a notebook whose metadata lists no figures', () => {
    expect(notebookProblems(executed([], ['recall-vs-budget']))).toEqual(['metadata.clusterkv.figures lists no figures']);
    expect(notebookProblems({ cells: [] })).toEqual(['metadata.clusterkv.figures lists no figures']);
  });

  it('count figures only in HTML outputs, given as one string or as lines', () => {
    const nb: Notebook = {
      cells: [{
        cell_type: 'code',
        outputs: [
          { output_type: 'stream', name: 'stdout', text: 'data-clusterkv-figure="in-text"' },
          { output_type: 'display_data', data: { 'text/plain': 'data-clusterkv-figure="in-plain"' } },
          { output_type: 'display_data', data: { 'text/html': '<div data-clusterkv-figure="one-string"></div>' } },
          { output_type: 'execute_result', data: { 'text/html': ['<div data-clusterkv-figure="as-', 'lines"></div>'] } },
        ],
      }],
    };
    expect([...figuresShown(nb)].sort()).toEqual(['as-lines', 'one-string']);
  });
});
