/**
 * Sentence embeddings through transformers.js feature extraction (mean pooling, L2 normalization) from a local
 * folder in the transformers.js layout, e.g. models/all-MiniLM-L6-v2 (config.json, tokenizer.json,
 * onnx/model_quantized.onnx), built by tools/embed/convert.py. Offline: nothing is ever fetched.
 */
import fs from 'node:fs';
import path from 'node:path';
import { KvcacheError } from '../errors';
import { findModelFolder, modelCandidates } from '../models';

export interface EmbedderOptions {
  /** A folder under models/ (e.g. 'all-MiniLM-L6-v2') or a path to one. */
  model: string;
  /** transformers.js dtype; q8 loads onnx/model_quantized.onnx. */
  dtype?: 'q8';
}

export interface Embedder {
  readonly name: string;
  readonly dims: number;
  /** One unit-length vector per text, in order. */
  embed(texts: string[]): Promise<Float32Array[]>;
  close(): Promise<void>;
}

const DTYPE_FILES: Record<NonNullable<EmbedderOptions['dtype']>, string> = { q8: 'model_quantized.onnx' };
const CONVERT_HINT = 'run tools/embed/convert.py (see tools/embed/README.md) or point the model option at such a folder';

/** The folder, resolved as for every model: a path first, then a folder under models/. */
export function resolveEmbedModel(model: string): { localPath: string; name: string } {
  const found = findModelFolder(model);
  if (found) return { localPath: found.localPath, name: found.name };
  throw new KvcacheError(
    'MODEL_LOAD_FAILED',
    `embedding model ${model} is not a model folder (looked for config.json in ${modelCandidates(model).join(' and ')}); ${CONVERT_HINT}`,
  );
}

export async function loadEmbedder(opts: EmbedderOptions): Promise<Embedder> {
  const dtype = opts.dtype ?? 'q8';
  const where = resolveEmbedModel(opts.model);
  const onnxFile = path.join(where.localPath, where.name, 'onnx', DTYPE_FILES[dtype]);
  if (!fs.existsSync(onnxFile)) {
    throw new KvcacheError('MODEL_LOAD_FAILED', `embedding model ${opts.model} has no ${onnxFile} for dtype ${dtype}; ${CONVERT_HINT}`);
  }
  // Loaded lazily: commands that never embed never pay for onnxruntime.
  const hf = await import('@huggingface/transformers');
  hf.env.allowRemoteModels = false;
  hf.env.allowLocalModels = true;
  hf.env.localModelPath = `${where.localPath}${path.sep}`;
  try {
    const extractor = await hf.pipeline('feature-extraction', where.name, { dtype });
    // One text per run, on purpose: 8-bit dynamic quantization scales activations over the whole input tensor,
    // so in a padded batch a text's vector depends on its batch-mates (up to 0.04 per component measured).
    // One at a time, a question always gets the same vector, the one tools/embed/convert.py recorded.
    const embedOne = async (text: string): Promise<Float32Array> => {
      const out = await extractor(text, { pooling: 'mean', normalize: true });
      return Float32Array.from(out.data as Float32Array);
    };
    const warm = await embedOne('warm up');
    const embed = async (texts: string[]): Promise<Float32Array[]> => {
      const vectors: Float32Array[] = [];
      for (const text of texts) vectors.push(await embedOne(text));
      return vectors;
    };
    return { name: where.name, dims: warm.length, embed, close: () => extractor.dispose() };
  } catch (err) {
    throw new KvcacheError(
      'MODEL_LOAD_FAILED',
      `cannot load the embedding model ${where.name} from ${where.localPath} (${dtype}): ${(err as Error).message}; ${CONVERT_HINT}`,
    );
  }
}
