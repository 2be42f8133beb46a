/**
 * The seq2seq model through transformers.js (onnxruntime-node): a folder in the transformers.js layout
 * (config.json, tokenizer.json, onnx/encoder_model*.onnx, onnx/decoder_model_merged*.onnx). Offline by
 * default: a hub id is only fetched with KVCACHE_ALLOW_DOWNLOAD=1. Loaded once, then warmed up, so the first
 * customer does not pay for session creation.
 */
import path from 'node:path';
import { KvcacheError } from '../errors';
import { findModelFolder, modelCandidates } from '../models';

export interface ModelOptions {
  /** A folder under models/, a path, or a hub id. */
  model: string;
  device: 'cpu' | 'cuda';
  /** transformers.js dtype: q8 loads *_quantized.onnx, fp32 the plain files. */
  dtype: string;
  allowDownload: boolean;
}

/** A chat for causal models and engines: the part every question shares first (engines cache its keys and values), then the question's own. */
export interface ChatPrompt {
  system: string;
  user: string;
}

export interface GenerateRequest {
  /** The one-string form the bundled seq2seq model was trained on (prompt.ts buildPrompt). */
  flat: string;
  chat: ChatPrompt;
  maxNewTokens: number;
  /** Called with the text so far as tokens arrive (engines that stream); the guard decides what is shown. */
  onText?: (soFar: string) => void;
}

export interface TextModel {
  readonly name: string;
  readonly kind: 'seq2seq' | 'engine';
  /** Greedy decoding of at most maxNewTokens tokens. */
  generate(req: GenerateRequest): Promise<string>;
  close(): Promise<void>;
}

/** Where the model comes from: a local folder (localModelPath + name) or, if allowed, the hub. */
export function resolveModel(opts: ModelOptions): { localPath: string; name: string } | { hubId: string } {
  const found = findModelFolder(opts.model);
  if (found) return { localPath: found.localPath, name: found.name };
  if (opts.allowDownload && /^[\w.-]+\/[\w.-]+$/.test(opts.model)) return { hubId: opts.model };
  throw new KvcacheError(
    'MODEL_LOAD_FAILED',
    `KVCACHE_MODEL=${opts.model} is not a model folder (looked for config.json in ${modelCandidates(opts.model).join(' and ')}); ` +
      'use a folder under models/, a path, KVCACHE_MODEL=none for cache-only, or a hub id with KVCACHE_ALLOW_DOWNLOAD=1',
  );
}

export async function loadModel(opts: ModelOptions): Promise<TextModel> {
  const where = resolveModel(opts);
  // Loaded lazily: the CLI and the cache-only mode never pay for onnxruntime.
  const hf = await import('@huggingface/transformers');
  hf.env.allowRemoteModels = 'hubId' in where;
  hf.env.allowLocalModels = !('hubId' in where);
  if ('localPath' in where) hf.env.localModelPath = `${where.localPath}${path.sep}`;
  const id = 'hubId' in where ? where.hubId : where.name;
  try {
    const tokenizer = await hf.AutoTokenizer.from_pretrained(id);
    const model = await hf.AutoModelForSeq2SeqLM.from_pretrained(id, { dtype: opts.dtype as 'q8', device: opts.device });
    const generate = async (input: string, maxNewTokens: number): Promise<string> => {
      const inputs = tokenizer(input, { truncation: true });
      const out = (await model.generate({ ...inputs, max_new_tokens: maxNewTokens, do_sample: false, num_beams: 1 })) as unknown as { tolist(): number[][] };
      const ids = out.tolist()[0] ?? [];
      return tokenizer.decode(ids, { skip_special_tokens: true }).trim();
    };
    await generate('question: warm up context: [1] warm up => ok', 4);
    return { name: id, kind: 'seq2seq', generate: (req) => generate(req.flat, req.maxNewTokens), close: async () => void (await model.dispose()) };
  } catch (err) {
    if (err instanceof KvcacheError) throw err;
    throw new KvcacheError(
      'MODEL_LOAD_FAILED',
      `cannot load the model ${id} (${opts.device}, ${opts.dtype}): ${(err as Error).message}. Check the folder's onnx/ files for this KVCACHE_DTYPE, or set KVCACHE_MODEL=none`,
    );
  }
}
