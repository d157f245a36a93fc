/**
 * A passkey eval's results against the CPU path's on the same documents: per (context, method, budget)
 * accuracy against the committed study tables (study/passkey-tables.md, its `## passkey-accuracy` section,
 * made by the tfjs op path on wasm: seed 0, 5 depths x 4 keys per context), and per (document, cell) answer
 * against a reference eval folder (the same documents decoded by another runtime). The GPU decodes the same
 * documents; ClusterKV's K-means on another backend may cluster differently, so a difference is reported, not
 * hidden.
 */

/** context -> method -> budget -> accuracy. */
export type StudyAccuracies = Map<number, Map<string, Map<number, number>>>;

/** The '**context N**' tables of the passkey-accuracy section of study/passkey-tables.md. */
export function studyAccuracies(markdown: string): StudyAccuracies {
  const start = markdown.indexOf('## passkey-accuracy');
  if (start < 0) throw new RangeError('the study tables have no "## passkey-accuracy" section');
  const end = markdown.indexOf('\n## ', start + 1);
  const section = markdown.slice(start, end < 0 ? undefined : end);
  const out: StudyAccuracies = new Map();
  for (const block of section.split('**context ').slice(1)) {
    const context = parseInt(block, 10);
    // the block's first table only (the section's later tables, all contexts pooled, follow it)
    const all = block.split('\n');
    const start = all.findIndex((l) => l.startsWith('|'));
    const end = all.findIndex((l, i) => i > start && !l.startsWith('|'));
    const lines = all.slice(start, end < 0 ? undefined : end);
    const budgets = lines[0].split('|').slice(2, -1).map((c) => Number(c.trim().replace('B=', '')));
    const methods = new Map<string, Map<number, number>>();
    for (const line of lines.slice(2)) {
      const cells = line.split('|').slice(1, -1).map((c) => c.trim());
      methods.set(cells[0], new Map(budgets.map((b, i) => [b, Number(cells[i + 1])])));
    }
    out.set(context, methods);
  }
  return out;
}

/** One eval row as this comparison reads it. */
export interface AnswerRow {
  document: string;
  cell: string;
  context: number;
  method: string;
  budget: number | null;
  correct: number;
  generated: string;
}

export interface AccuracyComparison {
  context: number;
  method: string;
  budget: number | null;
  documents: number;
  accuracy: number;
  /** the study's accuracy (null: not in its tables) */
  study: number | null;
  /** equal to the table's 3 decimals (null: not in the tables) */
  equal: boolean | null;
}

/** Accuracy per (context, method, budget) of `rows` against the study's (full has no budget: its row repeats one accuracy). */
export function compareWithStudy(rows: readonly AnswerRow[], study: StudyAccuracies): AccuracyComparison[] {
  const groups = new Map<string, { context: number; method: string; budget: number | null; correct: number; n: number }>();
  for (const r of rows) {
    const key = `${r.context}|${r.method}|${r.budget}`;
    const g = groups.get(key) ?? { context: r.context, method: r.method, budget: r.budget, correct: 0, n: 0 };
    g.correct += Number(r.correct);
    g.n++;
    groups.set(key, g);
  }
  return [...groups.values()].map((g) => {
    const perBudget = study.get(g.context)?.get(g.method);
    const want = perBudget ? (g.budget === null ? [...perBudget.values()][0] : perBudget.get(g.budget)) : undefined;
    const accuracy = g.correct / g.n;
    return { context: g.context, method: g.method, budget: g.budget, documents: g.n, accuracy, study: want ?? null, equal: want === undefined ? null : Math.abs(accuracy - want) < 5e-4 };
  });
}

export interface AnswerComparison {
  /** (document, cell) pairs in both */
  compared: number;
  /** pairs whose generated answers are the same text */
  sameAnswers: number;
  /** the pairs that differ: document, cell, both answers */
  differing: { document: string; cell: string; generated: string; reference: string }[];
}

/** Per (document, cell): the same generated answer as the reference's rows (pairs missing from either are not compared). */
export function compareAnswers(rows: readonly AnswerRow[], reference: readonly AnswerRow[]): AnswerComparison {
  const ref = new Map(reference.map((r) => [`${r.document}|${r.cell}`, r]));
  const out: AnswerComparison = { compared: 0, sameAnswers: 0, differing: [] };
  for (const r of rows) {
    const w = ref.get(`${r.document}|${r.cell}`);
    if (!w) continue;
    out.compared++;
    if (w.generated === r.generated) out.sameAnswers++;
    else out.differing.push({ document: r.document, cell: r.cell, generated: r.generated, reference: w.generated });
  }
  return out;
}
