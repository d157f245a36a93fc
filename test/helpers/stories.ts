/**
 * stories260K (../shared/models) loaded once per describe block on a backend: the tiny real model the model
 * path's tests run. Call inside a describe; the returned getters are valid inside its tests.
 */
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { useBackend } from '../../src/gpu/backend.js';
import { loadModel, loadTokenizer } from '../../src/model/load.js';
import type { TextTokenizer } from '../../src/model/tokenizer.js';
import type { LlamaModel } from '../../src/model/transformer.js';

export const STORIES = path.resolve(process.cwd(), '../shared/models/stories260K');

export function useStories260K(backend: string): { model: () => LlamaModel; tok: () => TextTokenizer } {
  let model: LlamaModel | undefined;
  let tok: TextTokenizer | undefined;
  beforeAll(async () => {
    await useBackend(backend);
    model = await loadModel(path.join(STORIES, 'stories260K.bin'));
    tok = await loadTokenizer(path.join(STORIES, 'tok512.bin'), model);
  });
  afterAll(() => model?.dispose());
  return { model: () => model!, tok: () => tok! };
}
