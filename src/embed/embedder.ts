/**
 * Sentence embeddings through transformers.js feature extraction (mean pooling, L2 normalization) from a local
 * folder in the transformers.js layout, e.g. models/all-MiniLM-L6-v2 (config.json, tokenizer.json,
 * onnx/model_quantized.onnx), built by tools/embed/convert.py, or models/multilingual-e5-small
 * (onnx/model_q4.onnx and a kvcache.json), built by tools/embed/e5/convert_e5.py. Offline: nothing is ever fetched.
 *
 * A folder may carry a kvcache.json beside config.json: { "queryPrefix": "query: ", "dtype": "q4" }. queryPrefix is
 * prepended to every text embedded (e5 models are trained with it before questions); dtype is the default when the
 * caller names none. A folder without one (MiniLM) embeds texts as they are, in q8.
 */
import fs from 'node:fs';
import path from 'node:path';
import { KvcacheError } from '../errors';
import { findModelFolder, modelCandidates } from '../models';

export type EmbedDtype = 'q8' | 'q4';

export interface EmbedderOptions {
  /** A folder under models/ (e.g. 'all-MiniLM-L6-v2') or a path to one. */
  model: string;
  /**
   * transformers.js dtype: q8 loads onnx/model_quantized.onnx, q4 onnx/model_q4.onnx. Default: the folder's
   * kvcache.json dtype, else q8.
   */
  dtype?: EmbedDtype;
}

export interface Embedder {
  readonly name: string;
  readonly dims: number;
  /**
   * Prepended to every text before it is embedded: 'query: ' for multilingual-e5-small, '' for MiniLM. Always set by
   * loadEmbedder; optional here only so that hand-made embedders (test doubles) need not name one (they add none).
   */
  readonly queryPrefix?: string;
  /** One unit-length vector per text, in order. */
  embed(texts: string[]): Promise<Float32Array[]>;
  close(): Promise<void>;
}

/** What loadEmbedder returns: an Embedder whose prefix is always known. */
export interface LoadedEmbedder extends Embedder {
  readonly queryPrefix: string;
}

const DTYPE_FILES: Record<EmbedDtype, string> = { q8: 'model_quantized.onnx', q4: 'model_q4.onnx' };
const CONVERT_HINT =
  'run tools/embed/convert.py or tools/embed/e5/convert_e5.py (see tools/embed/README.md) or point the model option at such a folder';
const SETTINGS_FILE = 'kvcache.json';

interface FolderSettings {
  queryPrefix: string;
  dtype: EmbedDtype | null;
}

/** The folder, resolved as for every model: a path first, then a folder under models/. */
export function resolveEmbedModel(model: string): { localPath: string; name: string } {
  const found = findModelFolder(model);
  if (found) return { localPath: found.localPath, name: found.name };
  throw new KvcacheError(
    'MODEL_LOAD_FAILED',
    `embedding model ${model} is not a model folder (looked for config.json in ${modelCandidates(model).join(' and ')}); ${CONVERT_HINT}`,
  );
}

/** The folder's kvcache.json, if it has one; a file that is there but unusable is an error naming it. */
function readSettings(model: string, dir: string): FolderSettings {
  const file = path.join(dir, SETTINGS_FILE);
  if (!fs.existsSync(file)) return { queryPrefix: '', dtype: null };
  const bad = (why: string): KvcacheError =>
    new KvcacheError('MODEL_LOAD_FAILED', `embedding model ${model} has an unusable ${file}: ${why}; ${CONVERT_HINT}`);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw bad(`not JSON (${(err as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('expected an object like { "queryPrefix": "query: ", "dtype": "q4" }');
  const { queryPrefix, dtype } = raw as Record<string, unknown>;
  if (queryPrefix !== undefined && typeof queryPrefix !== 'string') throw bad('queryPrefix must be a string');
  if (dtype !== undefined && !(typeof dtype === 'string' && Object.hasOwn(DTYPE_FILES, dtype))) {
    throw bad(`dtype must be one of ${Object.keys(DTYPE_FILES).join(', ')}`);
  }
  return { queryPrefix: queryPrefix ?? '', dtype: (dtype as EmbedDtype | undefined) ?? null };
}

export async function loadEmbedder(opts: EmbedderOptions): Promise<LoadedEmbedder> {
  const where = resolveEmbedModel(opts.model);
  const dir = path.join(where.localPath, where.name);
  const settings = readSettings(opts.model, dir);
  const dtype = opts.dtype ?? settings.dtype ?? 'q8';
  const { queryPrefix } = settings;
  const onnxFile = path.join(dir, 'onnx', DTYPE_FILES[dtype]);
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
    // One at a time, a question always gets the same vector, the one the conversion script recorded.
    const embedOne = async (text: string): Promise<Float32Array> => {
      const out = await extractor(queryPrefix + text, { pooling: 'mean', normalize: true });
      return Float32Array.from(out.data as Float32Array);
    };
    const warm = await embedOne('warm up');
    const embed = async (texts: string[]): Promise<Float32Array[]> => {
      const vectors: Float32Array[] = [];
      for (const text of texts) vectors.push(await embedOne(text));
      return vectors;
    };
    return { name: where.name, dims: warm.length, queryPrefix, embed, close: () => extractor.dispose() };
  } catch (err) {
    throw new KvcacheError(
      'MODEL_LOAD_FAILED',
      `cannot load the embedding model ${where.name} (${onnxFile}, dtype ${dtype}): ${(err as Error).message}; ${CONVERT_HINT}`,
    );
  }
}
