/**
 * The empty slot of a token list or selection: a position that attends nothing. Every reader takes any
 * negative position as empty (the sparse attention kernels and op chain, the metrics, the needle recall);
 * writers write this value: a head whose budget is below its layer's largest (per-head top-p), InfiniGen's
 * threshold cutting under the budget.
 */
export const EMPTY_SLOT = -1;
