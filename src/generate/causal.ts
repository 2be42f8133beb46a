/**
 * A causal chat LM in process (transformers.js, onnxruntime-node): the prompt is the model's own chat template
 * over the shared instructions (system) and the question's entries (user), decoded greedily with the decoder's
 * past key values.
 *
 * The shared part is computed once: the rendered system turn is the same for every question, so its keys and
 * values are kept (a small LRU keyed by its tokens) and each question runs only its own tokens on top of a copy
 * of that cache; the origin document's KV-cache, at the model level. generate() updates the cache it is given
 * in place, so every question gets a fresh shallow copy and the prefix's tensors are never replaced. A template
 * that does not render the system turn as a token prefix of the whole prompt (some fold it into the first user
 * turn) simply runs cold.
 */
import { LRUCache } from 'lru-cache';
import type { GenerateRequest, TextModel } from './model';

type HF = typeof import('@huggingface/transformers');
type Tensor = InstanceType<HF['Tensor']>;
type Cache = Record<string, Tensor>;
type Message = { role: 'system' | 'user'; content: string };

/** The prefixes kept: one per distinct instruction text (one per product today), bounded whatever the callers send. */
const PREFIXES_KEPT = 4;

/** What the last generate() did (benchmarks, tests). */
export interface CausalRun {
  promptTokens: number;
  /** Prompt tokens whose keys and values came from the kept prefix (0 when cold). */
  reusedTokens: number;
  newTokens: number[];
  firstTextMs: number | null;
}

export interface CausalOptions {
  /** Keep the shared prefix's past key values between questions (default true; the bench turns it off to compare). */
  reusePrefix?: boolean;
}

interface LoadedParts {
  tokenizer: InstanceType<HF['PreTrainedTokenizer']>;
  model: InstanceType<HF['PreTrainedModel']>;
}

export class CausalModel implements TextModel {
  readonly kind = 'causal' as const;
  reusePrefix: boolean;
  lastRun: CausalRun | null = null;
  private readonly prefixes = new LRUCache<string, { ids: number[]; cache: Cache }>({ max: PREFIXES_KEPT });

  constructor(
    readonly name: string,
    private readonly hf: HF,
    private readonly parts: LoadedParts,
    opts: CausalOptions = {},
  ) {
    this.reusePrefix = opts.reusePrefix ?? true;
  }

  /** The chat template's token ids (the generation prompt appended when asked). */
  tokensOf(messages: Message[], addGenerationPrompt: boolean): number[] {
    const ids = this.parts.tokenizer.apply_chat_template(messages, { add_generation_prompt: addGenerationPrompt, tokenize: true, return_tensor: false, return_dict: false });
    return (ids as unknown as Array<number | bigint>).map(Number);
  }

  async generate(req: GenerateRequest): Promise<string> {
    const messages: Message[] = [
      { role: 'system', content: req.chat.system },
      { role: 'user', content: req.chat.user },
    ];
    const ids = this.tokensOf(messages, true);
    const prefix = this.reusePrefix ? await this.prefixFor(this.tokensOf([messages[0]!], false), ids) : null;
    const started = Date.now();
    let firstTextMs: number | null = null;
    let soFar = '';
    const streamer = new this.hf.TextStreamer(this.parts.tokenizer, {
      skip_prompt: true,
      skip_special_tokens: true,
      callback_function: (text: string) => {
        if (!text) return;
        firstTextMs ??= Date.now() - started;
        soFar += text;
        req.onText?.(soFar);
      },
    });
    const out = (await this.parts.model.generate({
      input_ids: this.idsTensor(ids),
      attention_mask: this.hf.ones([1, ids.length]),
      // A copy: generate() writes the new keys and values into the cache object it is given.
      ...(prefix ? { past_key_values: new this.hf.DynamicCache({ ...prefix.cache }) } : {}),
      max_new_tokens: req.maxNewTokens,
      do_sample: false,
      num_beams: 1,
      streamer,
      ...(req.signal ? { stopping_criteria: [new (abortCriteria(this.hf))(req.signal)] } : {}),
      return_dict_in_generate: true,
    } as never)) as unknown as { sequences: Tensor; past_key_values: Cache };
    if (req.signal?.aborted) throw req.signal.reason;
    disposeExcept(out.past_key_values, prefix?.cache);
    const all = (out.sequences.tolist() as Array<Array<number | bigint>>)[0] ?? [];
    const newTokens = all.slice(ids.length).map(Number);
    this.lastRun = { promptTokens: ids.length, reusedTokens: prefix?.ids.length ?? 0, newTokens, firstTextMs };
    return this.parts.tokenizer.decode(newTokens, { skip_special_tokens: true }).trim();
  }

  /** The kept past key values of the system turn, computed on first use; null when it is not a token prefix of the prompt. */
  private async prefixFor(prefixIds: number[], ids: number[]): Promise<{ ids: number[]; cache: Cache } | null> {
    if (prefixIds.length === 0 || prefixIds.length >= ids.length || prefixIds.some((t, i) => ids[i] !== t)) return null;
    const key = prefixIds.join(',');
    const kept = this.prefixes.get(key);
    if (kept) return kept;
    const { cache } = await this.forward(prefixIds, null);
    const entry = { ids: prefixIds, cache };
    this.prefixes.set(key, entry);
    return entry;
  }

  /** Token ids of plain text, no special tokens (the selector's prompts). */
  encode(text: string): number[] {
    const enc = this.parts.tokenizer(text, { add_special_tokens: false }) as unknown as { input_ids: Tensor };
    return Array.from(enc.input_ids.data as BigInt64Array, Number);
  }

  /** One forward pass over ids on top of past (its tokens come first): every position's logits, and the cache after ids. */
  async forward(ids: number[], past: Cache | null): Promise<{ logits: Tensor; cache: Cache }> {
    const pastLength = past ? (Object.values(past)[0]?.dims[2] ?? 0) : 0;
    const out = (await this.parts.model.forward({
      input_ids: this.idsTensor(ids),
      attention_mask: this.hf.ones([1, pastLength + ids.length]),
      past_key_values: past ? new this.hf.DynamicCache({ ...past }) : null,
    })) as Record<string, Tensor>;
    const cache: Cache = {};
    for (const [name, t] of Object.entries(out)) if (name.startsWith('present')) cache[name.replace('present', 'past_key_values')] = t;
    return { logits: out.logits!, cache };
  }

  private idsTensor(ids: number[]): Tensor {
    return new this.hf.Tensor('int64', BigInt64Array.from(ids, (t) => BigInt(t)), [1, ids.length]);
  }

  async close(): Promise<void> {
    this.prefixes.clear();
    await this.parts.model.dispose();
  }
}

/** Stops decoding at the next token once the askers have given up, so the model's slot is free again. */
function abortCriteria(hf: HF) {
  return class extends hf.StoppingCriteria {
    constructor(private readonly signal: AbortSignal) {
      super();
    }
    override _call(inputIds: unknown[][]): boolean[] {
      return inputIds.map(() => this.signal.aborted);
    }
  };
}

/** Frees a finished run's cache (GPU buffers; CPU tensors are garbage) but never the kept prefix's tensors. */
function disposeExcept(cache: Cache, keep: Cache | undefined): void {
  const kept = new Set<Tensor>(Object.values(keep ?? {}));
  for (const t of Object.values(cache)) {
    if (!kept.has(t) && t.location === 'gpu-buffer') t.dispose();
  }
}

/** Loads the tokenizer (its chat template is required) and the decoder with past key values. */
export async function loadCausal(hf: HF, id: string, opts: { device: 'cpu' | 'cuda'; dtype: string | undefined; threads?: number }, causal: CausalOptions = {}): Promise<CausalModel> {
  const tokenizer = await hf.AutoTokenizer.from_pretrained(id);
  if (!(tokenizer as unknown as { chat_template: unknown }).chat_template) {
    throw new Error('its tokenizer has no chat template (tokenizer_config.json "chat_template"); a causal model needs one to be prompted');
  }
  const model = await hf.AutoModelForCausalLM.from_pretrained(id, {
    device: opts.device,
    ...(opts.dtype ? { dtype: opts.dtype as 'q8' } : {}),
    ...(opts.threads ? { session_options: { intraOpNumThreads: opts.threads, interOpNumThreads: 1 } } : {}),
  });
  const m = new CausalModel(id, hf, { tokenizer, model }, causal);
  await m.generate({ flat: '', chat: { system: 'warm up', user: 'warm up' }, maxNewTokens: 2 });
  return m;
}
