/**
 * Configuration from the environment, checked once at start with zod. A bad value stops the process with one
 * line naming the variable, the value and what to write instead; variables are never passed through unchecked.
 */
import path from 'node:path';
import { z } from 'zod';
import { KvcacheError } from './errors';
import { projectRoot } from './paths';

const DURATION_RE = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "7d", "12h", "30m", "45s", "250ms" or a plain number of seconds. */
export function parseDuration(text: string): number | null {
  const m = DURATION_RE.exec(text.trim());
  if (!m || m[1] === undefined) return null;
  return Math.round(Number(m[1]) * (UNIT_MS[m[2] ?? 's'] ?? 1000));
}

const duration = (min: number) =>
  z
    .string()
    .transform((s, ctx) => {
      const ms = parseDuration(s);
      if (ms === null || ms < min) {
        ctx.addIssue({ code: 'custom', message: `expected a duration such as 7d, 12h, 30m or 45s (at least ${min} ms)` });
        return z.NEVER;
      }
      return ms;
    });

const int = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, { message: 'expected a whole number' })
    .transform(Number)
    .pipe(z.number().int().min(min, { message: `must be at least ${min}` }).max(max, { message: `must be at most ${max}` }));

const schema = z.object({
  KVCACHE_STORE: z.string().optional(),
  KVCACHE_DATA_DIR: z.string().min(1).default('./data'),
  KVCACHE_TTL: duration(1000).prefault('7d'),
  KVCACHE_MAX_ENTRIES: int(1, 10_000_000).prefault('50000'),
  KVCACHE_MAX_QUESTION_CHARS: int(10, 100_000).prefault('2000'),
  KVCACHE_FALLBACK_ANSWER: z
    .string()
    .min(1)
    .default("I don't know yet; I've logged your question for the team."),
  KVCACHE_FAQ: z.string().optional(),
  KVCACHE_MISS_COST_MS: int(1, 600_000).prefault('2000'),
  KVCACHE_STATS_FLUSH_MS: int(10, 600_000).prefault('1000'),
  KVCACHE_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  KVCACHE_BUSY_ANSWER: z.string().min(1).default("I'm answering a lot of questions right now; please ask again in a minute."),
  KVCACHE_MODEL: z.string().min(1).default('none'),
  KVCACHE_DEVICE: z.enum(['cpu', 'cuda']).default('cpu'),
  KVCACHE_DTYPE: z.enum(['auto', 'q8', 'int8', 'uint8', 'fp16', 'fp32', 'q4']).default('auto'),
  KVCACHE_ALLOW_DOWNLOAD: z.enum(['0', '1']).default('0'),
  KVCACHE_MAX_NEW_TOKENS: int(1, 1024).prefault('128'),
  KVCACHE_GENERATION_TIMEOUT: duration(100).prefault('30s'),
  KVCACHE_MODEL_CONCURRENCY: int(1, 64).prefault('1'),
  KVCACHE_MODEL_QUEUE: int(0, 10_000).prefault('32'),
  KVCACHE_TOP_K: int(1, 10).prefault('3'),
  KVCACHE_ENGINE_URL: z
    .string()
    .regex(/^https?:\/\/[^\s]+\/v1\/?$/, { message: 'expected the base URL of an OpenAI-compatible engine, ending in /v1 (e.g. http://127.0.0.1:8080/v1)' })
    .optional(),
  KVCACHE_ENGINE_MODEL: z.string().min(1).optional(),
  KVCACHE_ENGINE_KEY: z.string().min(1).optional(),
  KVCACHE_EMBED_MODEL: z.string().min(1).default('all-MiniLM-L6-v2'),
  KVCACHE_EMBED_MODEL_CJK: z.string().min(1).default('multilingual-e5-small'),
  KVCACHE_STORE_TIMEOUT: duration(10).prefault('200ms'),
  KVCACHE_L1_MAX: int(0, 10_000_000).prefault('10000'),
  KVCACHE_L1_TTL: duration(100).prefault('60s'),
  // Calibrated by `npm run bench:grounding` on the BANKING77-OOS OOD valid split (0.446): abstains on 97% of off-topic questions.
  KVCACHE_MIN_COVERAGE: z
    .string()
    .regex(/^(0(\.\d+)?|1(\.0+)?)$/, { message: 'expected a number from 0 to 1' })
    .transform(Number)
    .prefault('0.45'),
});

export interface Config {
  store: string | undefined;
  dataDir: string;
  ttlMs: number;
  maxEntries: number;
  maxQuestionChars: number;
  fallbackAnswer: string;
  /** FAQ files loaded by `npm start` before the console chat; empty list = none. */
  faqFiles: string[];
  missCostMs: number;
  statsFlushMs: number;
  logLevel: string;
  busyAnswer: string;
  /** Redis: a command slower than this fails and the bot degrades (L1, model, fallback) instead of waiting. */
  storeTimeoutMs: number;
  /** Redis: in-process LRU in front of Redis (0 = none), and the longest an item may live in it. */
  l1Max: number;
  l1TtlMs: number;
  /** Sentence-embedding model of the paraphrase layer (a folder under models/ or a path); `none` turns it off. */
  embedModel: string;
  /** The paraphrase layer's model for Chinese, Japanese and Korean questions; `none`: they skip the layer. */
  cjkEmbedModel: string;
  generation: {
    /** `none`: cache only, misses get the fallback. */
    model: string;
    device: 'cpu' | 'cuda';
    dtype: string;
    allowDownload: boolean;
    maxNewTokens: number;
    timeoutMs: number;
    concurrency: number;
    maxQueue: number;
    topK: number;
    minCoverage: number;
    /** An OpenAI-compatible inference engine (vLLM, TGI, llama.cpp's server, Ollama) instead of KVCACHE_MODEL. */
    engine: { url: string; model: string; key: string | null } | null;
  };
}

export const DEMO_FAQ = path.join(projectRoot(), 'config', 'demo-faq.yaml');

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // An empty variable means "not set", as in most twelve-factor tools.
  const present = Object.fromEntries(Object.entries(env).filter(([k, v]) => k.startsWith('KVCACHE_') && v !== ''));
  const parsed = schema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = String(issue?.path[0] ?? 'KVCACHE_*');
    throw new KvcacheError(
      'CONFIG_INVALID',
      `${name}=${JSON.stringify(env[name] ?? '')} is invalid: ${issue?.message ?? 'bad value'}. Fix or unset ${name} (see the configuration table in README.md).`,
    );
  }
  const c = parsed.data;
  return {
    store: c.KVCACHE_STORE,
    dataDir: c.KVCACHE_DATA_DIR,
    ttlMs: c.KVCACHE_TTL,
    maxEntries: c.KVCACHE_MAX_ENTRIES,
    maxQuestionChars: c.KVCACHE_MAX_QUESTION_CHARS,
    fallbackAnswer: c.KVCACHE_FALLBACK_ANSWER,
    faqFiles:
      env.KVCACHE_FAQ === undefined
        ? [DEMO_FAQ]
        : env.KVCACHE_FAQ.split(',').map((s) => s.trim()).filter((s) => s.length > 0),
    missCostMs: c.KVCACHE_MISS_COST_MS,
    statsFlushMs: c.KVCACHE_STATS_FLUSH_MS,
    logLevel: c.KVCACHE_LOG_LEVEL,
    busyAnswer: c.KVCACHE_BUSY_ANSWER,
    embedModel: c.KVCACHE_EMBED_MODEL,
    cjkEmbedModel: c.KVCACHE_EMBED_MODEL_CJK,
    storeTimeoutMs: c.KVCACHE_STORE_TIMEOUT,
    l1Max: c.KVCACHE_L1_MAX,
    l1TtlMs: c.KVCACHE_L1_TTL,
    generation: {
      model: c.KVCACHE_MODEL,
      device: c.KVCACHE_DEVICE,
      dtype: c.KVCACHE_DTYPE,
      allowDownload: c.KVCACHE_ALLOW_DOWNLOAD === '1',
      maxNewTokens: c.KVCACHE_MAX_NEW_TOKENS,
      timeoutMs: c.KVCACHE_GENERATION_TIMEOUT,
      concurrency: c.KVCACHE_MODEL_CONCURRENCY,
      maxQueue: c.KVCACHE_MODEL_QUEUE,
      topK: c.KVCACHE_TOP_K,
      minCoverage: c.KVCACHE_MIN_COVERAGE,
      engine: engineOf(c),
    },
  };
}

function engineOf(c: { KVCACHE_ENGINE_URL?: string | undefined; KVCACHE_ENGINE_MODEL?: string | undefined; KVCACHE_ENGINE_KEY?: string | undefined; KVCACHE_MODEL: string }): Config['generation']['engine'] {
  if (c.KVCACHE_ENGINE_URL === undefined) {
    if (c.KVCACHE_ENGINE_MODEL !== undefined) throw new KvcacheError('CONFIG_INVALID', 'KVCACHE_ENGINE_MODEL is set without KVCACHE_ENGINE_URL: set the engine\'s base URL (ending in /v1), or unset KVCACHE_ENGINE_MODEL');
    return null;
  }
  if (c.KVCACHE_ENGINE_MODEL === undefined) throw new KvcacheError('CONFIG_INVALID', 'KVCACHE_ENGINE_URL is set without KVCACHE_ENGINE_MODEL: name the model the engine serves (its GET /v1/models lists them)');
  if (c.KVCACHE_MODEL !== 'none') throw new KvcacheError('CONFIG_INVALID', `KVCACHE_MODEL=${c.KVCACHE_MODEL} and KVCACHE_ENGINE_URL are both set: answers come from one model; unset one of them`);
  return { url: c.KVCACHE_ENGINE_URL.replace(/\/$/, ''), model: c.KVCACHE_ENGINE_MODEL, key: c.KVCACHE_ENGINE_KEY ?? null };
}
