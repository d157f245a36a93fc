/**
 * InfiniGen's speculation on the tfjs model path: the query a selector is handed (LayerInfo.speculatedQuery)
 * is layer l's query weights on layer l - 1's attention input at the step's position, checked against the
 * plain-TypeScript reference on a real model's residual stream (prefill, a multi-token block, single steps);
 * infinigen with query 'speculated' selects otherwise than with 'exact', both generate, neither leaks.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { generate } from '../../src/model/generate.js';
import { DenseLayerAttention, type SelectionObservation } from '../../src/model/layer-attention.js';
import { createSampler } from '../../src/model/sampling.js';
import { encodePrefix, readText } from '../../src/model/texts.js';
import type { LlamaModel } from '../../src/model/transformer.js';
import { defineMethod } from '../../src/sim/methods/define.js';
import { fullSelector } from '../../src/sim/methods/full.js';
import { createMethod, methodDefinition, methodFromDefinition } from '../../src/sim/methods/index.js';
import type { ParamValue } from '../../src/sim/selector.js';
import { refSpeculatedQuery, type RefQueryWeights } from '../reference/speculated-query.js';
import { useStories260K } from '../helpers/stories.js';


interface Handed {
  layer: number;
  position: number;
  /** [H * d] the speculated query handed, and the step's own */
  speculated: Float32Array;
  own: Float32Array;
}

/** Dense attention that records, at every decode step of every layer, the speculated query it is handed. */
function recordingMethod(handed: Handed[], layersWithout: number[]) {
  const def = defineMethod({
    ...methodDefinition('full'),
    name: 'speculation-recorder',
    selector: (info) => {
      const inner = fullSelector(info);
      let length = 0;
      if (!info.speculatedQuery) layersWithout.push(info.layer);
      return {
        prefill(keys, values, queries) {
          length = keys.shape[1];
          inner.prefill(keys, values, queries);
        },
        async step(q, kNew, vNew) {
          length += kNew.shape[1];
          if (info.speculatedQuery) {
            const s = info.speculatedQuery();
            handed.push({ layer: info.layer, position: length - 1, speculated: (await s.data()) as Float32Array, own: (await q.data()) as Float32Array });
            s.dispose();
          }
          return inner.step(q, kNew, vNew);
        },
        dispose: () => inner.dispose(),
      };
    },
  });
  return methodFromDefinition(def);
}

/** The residual stream entering every layer, [layers][T * dim], by a dense causal pass over all tokens at once. */
async function layerInputs(model: LlamaModel, tokens: number[]): Promise<Float32Array[]> {
  const inputs: Float32Array[] = [];
  let x = model.embed(tokens);
  for (let l = 0; l < model.config.layers; l++) {
    inputs.push((await x.data()) as Float32Array);
    const { q, k, v } = model.projectQkv(l, x, 0);
    const attention = new DenseLayerAttention();
    const out = await attention.attend(q, k, v);
    const next = model.finishLayer(l, x, out);
    tf.dispose([q, k, v, out, x]);
    attention.dispose();
    x = next;
  }
  x.dispose();
  return inputs;
}

async function queryWeights(model: LlamaModel, layer: number): Promise<RefQueryWeights> {
  const [prev, w] = [model.weights.layers[layer - 1], model.weights.layers[layer]];
  const { dim, heads, headDim, normEps, ropeTheta } = model.config;
  return {
    previousNorm: await prev.attnNorm.data(),
    wq: await w.wq.data(),
    ...(w.bq ? { bq: await w.bq.data() } : {}),
    dim,
    heads,
    headDim,
    normEps,
    ropeTheta,
  };
}

describe.each(['wasm', 'cpu'])('InfiniGen speculation on the model path (%s)', (backend) => {
  const stories = useStories260K(backend);

  it('hands each layer from the second on the plain-TS reference query of the previous layer\'s input (prefill, a block, steps)', async () => {
    const [model, tok] = [stories.model(), stories.tok()];
    const text = (await readText('moby-dick')).text;
    const tokens = encodePrefix(tok, text, 26);
    const [P, block] = [20, 3];
    const handed: Handed[] = [];
    const without: number[] = [];
    const before = tf.memory().numTensors;
    const session = model.session(recordingMethod(handed, without));
    (await session.forward(tokens.slice(0, P), true)).dispose();
    (await session.forward(tokens.slice(P, P + block))).dispose(); // a multi-token block, decoded position by position
    for (let p = P + block; p < tokens.length; p++) (await session.step(tokens[p])).dispose();
    session.dispose();
    expect(tf.memory().numTensors).toBe(before);

    const L = model.config.layers;
    expect(without).toEqual([0]); // the first layer has no layer before it
    const positions = tokens.length - P;
    expect(handed).toHaveLength((L - 1) * positions);
    const inputs = await layerInputs(model, tokens);
    const { dim } = model.config;
    let worst = 0;
    let apart = 0;
    for (const h of handed) {
      const want = refSpeculatedQuery(inputs[h.layer - 1].subarray(h.position * dim, (h.position + 1) * dim), await queryWeights(model, h.layer), h.position);
      for (let i = 0; i < want.length; i++) {
        worst = Math.max(worst, Math.abs(h.speculated[i] - want[i]) / (1 + Math.abs(want[i])));
        apart = Math.max(apart, Math.abs(h.speculated[i] - h.own[i]));
      }
    }
    expect(worst).toBeLessThan(1e-4);
    // the speculation is not the step's own query (else this test could not tell them apart)
    expect(apart).toBeGreaterThan(0.05);
    expect(new Set(handed.map((h) => h.position))).toEqual(new Set(Array.from({ length: positions }, (_, i) => P + i)));
  });

  it("selects otherwise with query 'speculated' than with 'exact', both generate, and the decode loop leaks nothing", async () => {
    const [model, tok] = [stories.model(), stories.tok()];
    const text = (await readText('moby-dick')).text;
    const prompt = encodePrefix(tok, text, 160);
    const steps = 12;
    const greedy = createSampler(0, 0);
    const run = async (query: ParamValue) => {
      const method = createMethod('infinigen', { budget: 16, sinks: 4, window: 8, denseLayers: 0, select: 'top-b', query });
      const lists = new Map<string, string>();
      const observer = async (o: SelectionObservation) => {
        const rows = (await o.tokens.array()) as number[][];
        lists.set(`${o.layer}@${o.position}`, JSON.stringify(rows.map((r) => [...r].sort((a, b) => a - b))));
      };
      const before = tf.memory().numTensors;
      const session = model.session(method, { observer });
      const counts: number[] = [];
      const result = await generate(session, prompt, { steps, sampler: greedy, onLogits: () => counts.push(tf.memory().numTensors) });
      session.dispose();
      expect(tf.memory().numTensors, String(query)).toBe(before);
      // no growth per step once the first window closed (the window is 8 here)
      expect(new Set(counts.slice(-3)).size, String(query)).toBe(1);
      return { ids: result.ids, lists };
    };
    const speculated = await run('speculated');
    const exact = await run('exact');
    for (const r of [speculated, exact]) {
      expect(r.ids).toHaveLength(steps);
      for (const id of r.ids) expect(id >= 0 && id < model.config.vocabSize).toBe(true);
    }
    // compare the selections where both saw the same tokens (the first step always; later while the ids agree)
    let same = 0;
    while (same < steps && speculated.ids[same] === exact.ids[same]) same++;
    const lastShared = prompt.length + Math.max(0, same - 1);
    let differ = 0;
    let compared = 0;
    for (const [key, list] of exact.lists) {
      const [layer, position] = key.split('@').map(Number);
      if (position > lastShared) continue;
      compared++;
      if (layer === 0) expect(speculated.lists.get(key), key).toBe(list); // no layer before it: the exact query
      else if (speculated.lists.get(key) !== list) differ++;
    }
    expect(compared).toBeGreaterThanOrEqual(model.config.layers);
    expect(differ).toBeGreaterThan(0);
  });
});
