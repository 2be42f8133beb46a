/**
 * An OpenAI-compatible inference engine as the model (the GPU and scale-out path: vLLM, TGI, llama.cpp's
 * server, Ollama all speak it): chat completions, streamed, greedy. The instructions every question shares go
 * first (prompt.ts), and `cache_prompt` asks llama.cpp to keep their keys and values between requests; vLLM
 * and SGLang reuse a shared prefix on their own.
 *
 * Checked at start (GET /v1/models): an engine that is down, refuses the key, or does not serve the model
 * stops the start with one line saying which. Each request has a deadline; only 429 and 503 (the engine is
 * busy) are retried, with backoff (honouring Retry-After), and never once text has streamed. The key is sent
 * as a bearer token and never logged or put in an error message.
 */
import { KvcacheError } from '../errors';
import type { GenerateRequest, TextModel } from './model';

export interface EngineOptions {
  /** Base URL ending in /v1. */
  url: string;
  model: string;
  key: string | null;
  /** Deadline of one request (the generation queue has its own, for the asker). */
  timeoutMs: number;
  /** Retries of a 429/503 (default 3); backoff 250 ms × 2^n, or the engine's Retry-After, at most 5 s. */
  retries?: number;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
}

/** What the engine reported about the last request: its own count of prompt tokens served from its cache. */
export interface EngineUsage {
  promptTokens: number | null;
  cachedTokens: number | null;
  firstTextMs: number | null;
}

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

export class EngineModel implements TextModel {
  readonly kind = 'engine' as const;
  readonly name: string;
  /** Usage of the last completed request (benchmarks). */
  lastUsage: EngineUsage = { promptTokens: null, cachedTokens: null, firstTextMs: null };
  private readonly fetch: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;

  private constructor(private readonly o: EngineOptions) {
    this.name = `${o.model} @ ${o.url}`;
    this.fetch = o.fetch ?? fetch;
    this.sleep = o.sleep ?? realSleep;
  }

  /** Connects: the engine must answer GET /models with the model in its list. */
  static async connect(o: EngineOptions): Promise<EngineModel> {
    const m = new EngineModel(o);
    await m.check();
    return m;
  }

  private headers(): Record<string, string> {
    return { 'content-type': 'application/json', ...(this.o.key ? { authorization: `Bearer ${this.o.key}` } : {}) };
  }

  private async check(): Promise<void> {
    const where = `the inference engine at KVCACHE_ENGINE_URL=${this.o.url}`;
    let res: Response;
    try {
      res = await this.fetch(`${this.o.url}/models`, { headers: this.headers(), signal: AbortSignal.timeout(Math.min(this.o.timeoutMs, 10_000)) });
    } catch (err) {
      throw new KvcacheError('MODEL_LOAD_FAILED', `cannot reach ${where}: ${causeOf(err)}; start the engine, or fix the URL (its base, ending in /v1)`);
    }
    if (res.status === 401 || res.status === 403) {
      throw new KvcacheError('MODEL_LOAD_FAILED', `${where} refused the request (HTTP ${res.status}): set KVCACHE_ENGINE_KEY to the API key it expects`);
    }
    if (!res.ok) throw new KvcacheError('MODEL_LOAD_FAILED', `${where} answered HTTP ${res.status} to GET /models; is it an OpenAI-compatible server?`);
    let ids: string[] = [];
    try {
      const body = (await res.json()) as { data?: Array<{ id?: unknown }> };
      ids = (body.data ?? []).map((d) => String(d.id ?? '')).filter(Boolean);
    } catch {
      throw new KvcacheError('MODEL_LOAD_FAILED', `${where} did not answer GET /models with JSON; is it an OpenAI-compatible server?`);
    }
    if (!ids.includes(this.o.model)) {
      throw new KvcacheError('MODEL_LOAD_FAILED', `KVCACHE_ENGINE_MODEL=${this.o.model} is not served by ${where}; it serves: ${ids.slice(0, 20).join(', ') || 'nothing'}`);
    }
  }

  async generate(req: GenerateRequest): Promise<string> {
    const body = JSON.stringify({
      model: this.o.model,
      messages: [
        { role: 'system', content: req.chat.system },
        { role: 'user', content: req.chat.user },
      ],
      max_tokens: req.maxNewTokens,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
      // llama.cpp's server: keep the prompt's KV cache for the next request (others ignore the field).
      cache_prompt: true,
    });
    const retries = this.o.retries ?? 3;
    for (let attempt = 0; ; attempt++) {
      const started = performance.now();
      let res: Response;
      try {
        const deadline = AbortSignal.timeout(this.o.timeoutMs);
        res = await this.fetch(`${this.o.url}/chat/completions`, { method: 'POST', headers: this.headers(), body, signal: req.signal ? AbortSignal.any([req.signal, deadline]) : deadline });
      } catch (err) {
        throw new KvcacheError('ENGINE_FAILED', `the inference engine did not answer: ${req.signal?.aborted ? 'the askers gave up (generation timeout)' : causeOf(err)}`);
      }
      if ((res.status === 429 || res.status === 503) && attempt < retries) {
        await res.body?.cancel().catch(() => undefined);
        const after = Number(res.headers.get('retry-after'));
        await abortable(this.sleep(Math.min(5000, Number.isFinite(after) && after > 0 ? after * 1000 : 250 * 2 ** attempt)), req.signal);
        continue;
      }
      if (!res.ok || !res.body) {
        const detail = (await res.text().catch(() => '')).slice(0, 200);
        throw new KvcacheError('ENGINE_FAILED', `the inference engine answered HTTP ${res.status}${detail ? `: ${detail}` : ''}`);
      }
      return this.read(res, started, req.onText);
    }
  }

  /** Reads a server-sent-event stream of chat completion chunks (or one JSON body, if the engine did not stream). */
  private async read(res: Response, started: number, onText?: (soFar: string) => void): Promise<string> {
    const usage: EngineUsage = { promptTokens: null, cachedTokens: null, firstTextMs: null };
    let text = '';
    // A stream must end with [DONE] or a finish_reason: one that breaks off, or carries an event that is not
    // JSON, may have lost words, and half an answer can read as a whole one.
    let finished = false;
    const take = (json: string) => {
      let chunk: Chunk;
      try {
        chunk = JSON.parse(json) as Chunk;
      } catch {
        throw new KvcacheError('ENGINE_FAILED', `the inference engine sent an event that is not JSON: ${JSON.stringify(json.slice(0, 80))}`);
      }
      if (chunk.choices?.[0]?.finish_reason) finished = true;
      const piece = chunk.choices?.[0]?.delta?.content ?? chunk.choices?.[0]?.message?.content ?? '';
      if (piece) {
        if (usage.firstTextMs === null) usage.firstTextMs = performance.now() - started;
        text += piece;
        onText?.(text);
      }
      if (chunk.usage) {
        usage.promptTokens = chunk.usage.prompt_tokens ?? usage.promptTokens;
        usage.cachedTokens = chunk.usage.prompt_tokens_details?.cached_tokens ?? usage.cachedTokens;
      }
      // llama.cpp's server reports its cache reuse in `timings.cache_n`.
      if (chunk.timings?.cache_n !== undefined) usage.cachedTokens = chunk.timings.cache_n;
      if (chunk.timings?.prompt_n !== undefined && usage.promptTokens === null) usage.promptTokens = chunk.timings.prompt_n + (chunk.timings.cache_n ?? 0);
    };
    if (!(res.headers.get('content-type') ?? '').includes('text/event-stream')) {
      take(await res.text());
      finished = true;
    } else {
      const decoder = new TextDecoder();
      let buf = '';
      try {
        for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
          buf += decoder.decode(bytes, { stream: true });
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (!line.startsWith('data:')) continue;
            const data = line.slice(5).trim();
            if (data === '[DONE]') {
              finished = true;
              continue;
            }
            take(data);
          }
        }
      } catch (err) {
        if (err instanceof KvcacheError) {
          await res.body?.cancel().catch(() => undefined);
          throw err;
        }
        throw new KvcacheError('ENGINE_FAILED', `the inference engine's stream broke off: ${causeOf(err)}`);
      }
      if (!finished) throw new KvcacheError('ENGINE_FAILED', "the inference engine's stream ended without [DONE] or a finish_reason");
    }
    this.lastUsage = usage;
    return text.trim();
  }

  async close(): Promise<void> {}
}

interface Chunk {
  choices?: Array<{ delta?: { content?: string | null }; message?: { content?: string | null }; finish_reason?: string | null }>;
  usage?: { prompt_tokens?: number; prompt_tokens_details?: { cached_tokens?: number } };
  timings?: { cache_n?: number; prompt_n?: number };
}

/** Waits for p, or fails as soon as the askers give up (a retry's backoff must not hold the slot past the deadline). */
async function abortable(p: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return p;
  const gaveUpError = () => new KvcacheError('ENGINE_FAILED', 'the askers gave up (generation timeout) before the engine was free');
  if (signal.aborted) throw gaveUpError();
  let onAbort = () => undefined as void;
  const gaveUp = new Promise<never>((_, reject) => {
    onAbort = () => reject(gaveUpError());
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    await Promise.race([p, gaveUp]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

function causeOf(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'timed out';
  return e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
}
