/**
 * Plain-TypeScript reference of the baseline methods' choices (float64, loops), independent of src/.
 * Data layout: keys [G*T*d] (KV head g, position t at (g*T + t)*d), q [H*d]; query head h reads KV head
 * floor(h / (H/G)). Every function returns the positions chosen from the selectable range [sinkEnd, openStart).
 */
export interface RefLayout {
  sinkEnd: number;
  openStart: number;
  position: number;
}

/** Sinks, selectable range and open window of a decode step (docs/DESIGN.md#the-forced-set-and-budget-accounting). */
export function refLayout(position: number, prefill: number, sinks: number, window: number): RefLayout {
  const generated = Math.max(0, position - prefill);
  const closed = Math.floor(generated / window);
  const openStart = Math.min(position, Math.min(prefill, position) + closed * window);
  return { sinkEnd: Math.min(sinks, openStart), openStart, position };
}

export function refChosenCount(budget: number, layout: RefLayout): number {
  return Math.min(budget, layout.openStart - layout.sinkEnd);
}

export function refForced(layout: RefLayout): number[] {
  const out: number[] = [];
  for (let t = 0; t < layout.sinkEnd; t++) out.push(t);
  for (let t = layout.openStart; t <= layout.position; t++) out.push(t);
  return out;
}

export const row = (x: ArrayLike<number>, i: number, d: number) => Array.from({ length: d }, (_, j) => x[i * d + j]);
export const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i], 0);

/** Contiguous units of `size` from `start` to `end` (the last shorter). */
function units(start: number, end: number, size: number): number[][] {
  const out: number[][] = [];
  for (let s = start; s < end; s += size) out.push(Array.from({ length: Math.min(size, end - s) }, (_, i) => s + i));
  return out;
}

/** Units by score (descending; ties: lower unit first), tokens taken in order up to b, the last unit cut. */
function takeUnits(unitTokens: number[][], scores: number[], b: number): number[] {
  const order = scores.map((s, u) => [s, u] as const).sort((x, y) => y[0] - x[0] || x[1] - y[1]);
  const out: number[] = [];
  for (const [, u] of order) {
    for (const t of unitTokens[u]) {
      if (out.length === b) return out;
      out.push(t);
    }
  }
  return out;
}

export interface RefData {
  q: ArrayLike<number>;
  keys: ArrayLike<number>;
  H: number;
  G: number;
  /** positions stored per KV head in `keys` */
  T: number;
  d: number;
}

export function keyOf(data: RefData, g: number, t: number): number[] {
  return row(data.keys, g * data.T + t, data.d);
}

/** Quest's pages from sinkEnd and, per head, each page's score sum_i max(q_i min_i, q_i max_i). */
export function refQuestPageScores(data: RefData, layout: RefLayout, pageSize: number): { pages: number[][]; scores: number[][] } {
  const pages = units(layout.sinkEnd, layout.openStart, pageSize);
  const scores = Array.from({ length: data.H }, (_, h) => {
    const g = Math.floor(h / (data.H / data.G));
    const q = row(data.q, h, data.d);
    return pages.map((page) => refBoxBound(q, page.map((t) => keyOf(data, g, t))));
  });
  return { pages, scores };
}

/** Quest's upper bound of q.k over the box of `keys`: sum_i max(q_i min_i, q_i max_i). */
export function refBoxBound(q: number[], keys: number[][]): number {
  let s = 0;
  for (let i = 0; i < q.length; i++) {
    const vals = keys.map((k) => k[i]);
    s += Math.max(q[i] * Math.min(...vals), q[i] * Math.max(...vals));
  }
  return s;
}

/** Quest: pages from sinkEnd, score sum_i max(q_i min_i, q_i max_i), top pages to b tokens, the last cut. */
export function refQuest(data: RefData, layout: RefLayout, budget: number, pageSize: number, b = refChosenCount(budget, layout)): number[][] {
  const { pages, scores } = refQuestPageScores(data, layout, pageSize);
  return scores.map((s) => takeUnits(pages, s, b));
}

/** InfLLM's blocks from sinkEnd and, per head, each block's score: sum over its r representatives of q.k (x reps / r). */
export function refInfLLMBlockScores(data: RefData, layout: RefLayout, blockSize: number, reps: number): { blocks: number[][]; scores: number[][] } {
  const blocks = units(layout.sinkEnd, layout.openStart, blockSize);
  const scores = Array.from({ length: data.H }, (_, h) => {
    const g = Math.floor(h / (data.H / data.G));
    const q = row(data.q, h, data.d);
    return blocks.map((block) => {
      const keys = block.map((t) => keyOf(data, g, t));
      const mean = Array.from({ length: data.d }, (_, i) => keys.reduce((s, k) => s + k[i], 0) / keys.length);
      const r = Math.min(reps, keys.length);
      const picked = keys.map((k, i) => [dot(k, mean), i] as const).sort((x, y) => y[0] - x[0] || x[1] - y[1]).slice(0, r);
      return (picked.reduce((s, [, i]) => s + dot(q, keys[i]), 0) * reps) / r;
    });
  });
  return { blocks, scores };
}

/** InfLLM: blocks from sinkEnd; representatives = the r keys with the largest dot product with the block mean. */
export function refInfLLM(data: RefData, layout: RefLayout, budget: number, blockSize: number, reps: number, b = refChosenCount(budget, layout)): number[][] {
  const { blocks, scores } = refInfLLMBlockScores(data, layout, blockSize, reps);
  return scores.map((s) => takeUnits(blocks, s, b));
}

export function refStreaming(H: number, layout: RefLayout, budget: number): number[][] {
  const b = refChosenCount(budget, layout);
  return Array.from({ length: H }, () => Array.from({ length: b }, (_, i) => layout.openStart - b + i));
}

/**
 * H2O, stateful: per KV head, accumulated attention and the evicted set. Call step() once per decode step
 * with that step's data (keys covering 0..position).
 */
export class RefH2O {
  private acc: number[][];
  private evicted: Set<number>[];
  private started = false;

  constructor(
    private readonly G: number,
    private readonly budget: number,
    private readonly recentRatio: number,
  ) {
    this.acc = Array.from({ length: G }, () => []);
    this.evicted = Array.from({ length: G }, () => new Set<number>());
  }

  step(data: RefData, layout: RefLayout): number[][] {
    const { H, G, d } = data;
    const group = H / G;
    const n = layout.position + 1;
    const b = refChosenCount(this.budget, layout);
    const recent = Math.floor(b * this.recentRatio);
    const logits = Array.from({ length: H }, (_, h) => {
      const q = row(data.q, h, d);
      const g = Math.floor(h / group);
      return Array.from({ length: n }, (_, t) => dot(q, keyOf(data, g, t)) / Math.sqrt(d));
    });
    const softmaxOver = (l: number[], allowed: (t: number) => boolean) => {
      const idx = l.map((_, t) => t).filter(allowed);
      const m = Math.max(...idx.map((t) => l[t]));
      const z = idx.reduce((s, t) => s + Math.exp(l[t] - m), 0);
      const w = new Array<number>(l.length).fill(0);
      for (const t of idx) w[t] = Math.exp(l[t] - m) / z;
      return w;
    };
    const kept: number[][] = [];
    for (let g = 0; g < G; g++) {
      const acc = this.acc[g];
      while (acc.length < n) acc.push(0);
      if (!this.started) {
        for (let h = g * group; h < (g + 1) * group; h++) {
          const w = softmaxOver(logits[h], () => true);
          for (let t = 0; t < n; t++) acc[t] += w[t];
        }
      }
      const recentStart = layout.openStart - recent;
      const cands: number[] = [];
      for (let t = layout.sinkEnd; t < recentStart; t++) if (!this.evicted[g].has(t)) cands.push(t);
      cands.sort((x, y) => acc[y] - acc[x] || x - y);
      const heavy = cands.slice(0, b - recent);
      const keep = [...heavy];
      for (let t = recentStart; t < layout.openStart; t++) keep.push(t);
      const keepSet = new Set(keep);
      if (b > 0) for (let t = layout.sinkEnd; t < layout.openStart; t++) if (!keepSet.has(t)) this.evicted[g].add(t);
      for (let h = g * group; h < (g + 1) * group; h++) {
        const w = softmaxOver(logits[h], (t) => !this.evicted[g].has(t));
        for (let t = 0; t < n; t++) acc[t] += w[t];
      }
      kept.push(keep);
    }
    this.started = true;
    return Array.from({ length: H }, (_, h) => kept[Math.floor(h / group)]);
  }
}
