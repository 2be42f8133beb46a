/**
 * Models in process through transformers.js (onnxruntime-node), from a folder in the transformers.js layout
 * (config.json, tokenizer.json, onnx/) or a hub id: a seq2seq model (T5, BART, flan-t5: encoder_model*.onnx,
 * decoder_model_merged*.onnx) prompted with the flat string, or a causal chat LM (onnx/model*.onnx with past
 * key values; causal.ts) prompted with its chat template. config.json's is_encoder_decoder says which. Offline
 * by default: a hub id is only fetched with KVCACHE_ALLOW_DOWNLOAD=1. Loaded once, then warmed up, so the first
 * customer does not pay for session creation.
 */
import fs from 'node:fs';
import path from 'node:path';
import { KvcacheError } from '../errors';
import { findModelFolder, modelCandidates } from '../models';
import { loadCausal } from './causal';

export interface ModelOptions {
  /** A folder under models/, a path, or a hub id. */
  model: string;
  device: 'cpu' | 'cuda';
  /** transformers.js dtype: q8 loads *_quantized.onnx, fp32 the plain files; auto takes q8 where the folder has it, else fp32. */
  dtype: string;
  allowDownload: boolean;
  /** onnxruntime's intra-op threads (default: one per core); benchmarks pin 1. */
  threads?: number;
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
  /** Aborted when every asker has given up (the generation deadline): stop and free the slot. */
  signal?: AbortSignal;
}

export interface TextModel {
  readonly name: string;
  readonly kind: 'seq2seq' | 'causal' | 'engine';
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

/** KVCACHE_DTYPE=auto: the folder's int8 files when it has them, else its 4-bit ones, else the plain ones; a hub id gets q8. */
export function dtypeFor(requested: string, localDir: string | null, causal: boolean): string {
  if (requested !== 'auto') return requested;
  if (!localDir) return 'q8';
  const base = causal ? 'model' : 'decoder_model_merged';
  const found = (['q8', 'q4', 'fp32'] as const).find((d) => fs.existsSync(path.join(localDir, 'onnx', `${base}${{ q8: '_quantized', q4: '_q4', fp32: '' }[d]}.onnx`)));
  return found ?? 'q8';
}

export async function loadModel(opts: ModelOptions): Promise<TextModel> {
  const where = resolveModel(opts);
  // Loaded lazily: the CLI and the cache-only mode never pay for onnxruntime.
  const hf = await import('@huggingface/transformers');
  hf.env.allowRemoteModels = 'hubId' in where;
  hf.env.allowLocalModels = !('hubId' in where);
  if ('localPath' in where) hf.env.localModelPath = `${where.localPath}${path.sep}`;
  const id = 'hubId' in where ? where.hubId : where.name;
  const localDir = 'localPath' in where ? path.join(where.localPath, where.name) : null;
  let dtype = opts.dtype;
  try {
    const config = (await hf.AutoConfig.from_pretrained(id)) as unknown as { is_encoder_decoder?: boolean };
    const causal = !config.is_encoder_decoder;
    dtype = dtypeFor(opts.dtype, localDir, causal);
    if (causal) return await loadCausal(hf, id, { device: opts.device, dtype, ...(opts.threads ? { threads: opts.threads } : {}) });
    const tokenizer = await hf.AutoTokenizer.from_pretrained(id);
    const model = await hf.AutoModelForSeq2SeqLM.from_pretrained(id, { dtype: dtype as 'q8', device: opts.device });
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
      `cannot load the model ${id} (${opts.device}, ${dtype}): ${(err as Error).message.replace(/\.+$/, '')}. Check the folder's onnx/ files for this KVCACHE_DTYPE, or set KVCACHE_MODEL=none`,
    );
  }
}
