/**
 * Wires the core from configuration: store, cache, statistics and the answer pipeline. Every transport (the
 * `kvcache` CLI, the console chat, the Slack app) opens one App and calls the same Answerer.
 */
import { Answerer } from './core/answerer';
import { AnswerCache } from './core/cache';
import { ReplicaFlight } from './core/flight';
import { isOutage, StoreHealth } from './core/health';
import { buildReport, type StatsReport } from './core/report';
import { spoolStats, takeSpooledStats } from './core/spool';
import { StatsRecorder } from './core/stats';
import { systemClock, type Clock, type Generator, type SemanticMatcher } from './core/types';
import type { Config } from './config';
import { recoverJournals } from './faq/preload';
import { silentLogger, type Logger } from './logger';
import { openStore } from './store/open';
import { GroundedGenerator } from './generate/generator';
import { loadModel, type TextModel } from './generate/model';
import { EngineModel } from './generate/engine';
import { DEFAULT_GUARD, FaithfulnessGuard } from './generate/guard';
import { GenerationQueue } from './generate/queue';
import type { KvStore } from './store/types';
import { KvcacheError } from './errors';
import { loadEmbedder, resolveEmbedModel, type Embedder } from './embed/embedder';
import { SemanticLayer, type CjkModel } from './semantic/layer';
import { ReviewQueue } from './semantic/review';
import { Handoffs } from './handoff/handoffs';

export interface AppDeps {
  clock?: Clock;
  logger?: Logger;
  store?: KvStore;
  semantic?: SemanticMatcher | null;
  generator?: Generator | null;
  /** Load the model of KVCACHE_MODEL (commands that answer questions); others leave it alone. */
  withModel?: boolean;
  /** Load the embedding model of KVCACHE_EMBED_MODEL (commands that answer, preload or calibrate). */
  withEmbedder?: boolean;
}

export interface App {
  config: Config;
  clock: Clock;
  logger: Logger;
  store: KvStore;
  cache: AnswerCache;
  stats: StatsRecorder;
  answerer: Answerer;
  /** Store outages as the answer pipeline saw them (for /healthz). */
  health: StoreHealth;
  /** The paraphrase layer, when an embedding model is loaded. */
  semantic: SemanticLayer | null;
  review: ReviewQueue;
  /** Questions handed to the support team, and their answers (src/handoff/). */
  handoffs: Handoffs;
  report(tenant: string): Promise<StatsReport>;
  close(): Promise<void>;
}

export async function openApp(config: Config, deps: AppDeps = {}): Promise<App> {
  const clock = deps.clock ?? systemClock;
  const logger = deps.logger ?? silentLogger;
  const store = deps.store ?? (await openStore(config.store, config.dataDir, { commandTimeoutMs: config.storeTimeoutMs, l1: { max: config.l1Max, ttlMs: config.l1TtlMs } }));
  const recovered = await recoverJournals(store);
  if (recovered.length > 0) logger.warn({ tenants: recovered }, 'rolled forward an interrupted FAQ preload');
  const stats = new StatsRecorder(store, clock, config.statsFlushMs, logger);
  // Counts a previous process on this data folder could not write before it exited (a store outage).
  const spooled = takeSpooledStats(config.dataDir);
  for (const d of spooled.deltas) stats.adopt(d);
  if (spooled.files.length > 0) logger.warn({ files: spooled.files }, 'adding statistics an earlier process could not write before it exited');
  if (spooled.problems.length > 0) logger.error({ problems: spooled.problems }, 'unreadable statistics files were renamed .bad and left in the data folder');
  const cache = new AnswerCache({ store, clock, stats, ttlMs: config.ttlMs, maxEntries: config.maxEntries });
  let embedder: Embedder | null = null;
  if (deps.withEmbedder && deps.semantic === undefined && config.embedModel !== 'none') {
    try {
      embedder = await loadEmbedder({ model: config.embedModel });
    } catch (err) {
      await store.close();
      throw err;
    }
  }
  let cjk: CjkModel | null = null;
  if (embedder && config.cjkEmbedModel !== 'none') {
    try {
      // Checked now, loaded on first use: a wrong folder fails the start, not the first Chinese question.
      const where = resolveEmbedModel(config.cjkEmbedModel);
      cjk = { name: where.name, load: () => loadEmbedder({ model: config.cjkEmbedModel }) };
    } catch (err) {
      await embedder.close();
      await store.close();
      throw new KvcacheError('MODEL_LOAD_FAILED', `KVCACHE_EMBED_MODEL_CJK: ${(err as Error).message}; or set it to none`);
    }
  }
  const semantic = embedder ? new SemanticLayer(cache, embedder, logger, cjk) : null;
  let model: TextModel | null = null;
  const engine = config.generation.engine;
  if (deps.withModel && deps.generator === undefined && (engine || config.generation.model !== 'none')) {
    try {
      model = engine
        ? await EngineModel.connect({ ...engine, timeoutMs: config.generation.timeoutMs })
        : await loadModel({ ...config.generation });
    } catch (err) {
      await embedder?.close();
      await store.close();
      throw err;
    }
  }
  const g = config.generation;
  const generator =
    deps.generator ??
    (model
      ? new GroundedGenerator(
          cache,
          model,
          new GenerationQueue({ concurrency: g.concurrency, maxQueue: g.maxQueue, timeoutMs: g.timeoutMs }),
          { topK: g.topK, minCoverage: g.minCoverage, maxNewTokens: g.maxNewTokens },
          {
            // Sentences are checked with the paraphrase layer's English model when it is loaded, by words otherwise.
            guard: new FaithfulnessGuard({ ...DEFAULT_GUARD, embedder }),
            ...(semantic ? { nearest: (t: string, q: string, k: number) => semantic.nearest(t, q, k) } : {}),
            onBlocked: (t, reason) => stats.recordBlocked(t, reason),
            logger,
          },
        )
      : null);
  const health = new StoreHealth(logger);
  store.onOutcome = (ok, op, err) => health.record(ok, op, err);
  const answerer = new Answerer({
    cache,
    stats,
    clock,
    fallbackAnswer: config.fallbackAnswer,
    busyAnswer: config.busyAnswer,
    maxQuestionChars: config.maxQuestionChars,
    semantic: deps.semantic ?? semantic,
    generator,
    // Processes sharing a store (Redis, or one SQLite file) run each new question's generation once.
    flight: generator && store.kind !== 'memory' ? new ReplicaFlight({ store, waitMs: config.generation.timeoutMs + 2000 }) : null,
  });
  // Hit counts are written behind on the same rhythm as the statistics, so a crash loses at most one interval.
  const hitTimer =
    config.statsFlushMs > 0
      ? setInterval(
          () =>
            // Not during an outage: a failed write drops the entry from L1, the copy that still answers.
            !health.degraded &&
            void cache.flushHits().catch((err: unknown) => {
              if (!isOutage(err)) logger.warn({ err: String(err) }, 'writing hit counts failed');
            }),
          config.statsFlushMs,
        )
      : null;
  hitTimer?.unref();
  let closed = false;
  const handoffs = new Handoffs({ store, cache, stats, clock, logger, ...(semantic ? { learn: (t: string) => semantic.sync(t).then(() => undefined) } : {}) });
  return {
    config,
    clock,
    logger,
    store,
    cache,
    stats,
    answerer,
    health,
    semantic,
    review: new ReviewQueue(cache, clock, semantic),
    handoffs,
    async report(tenant) {
      await cache.flushHits();
      const doc = await stats.read(tenant);
      return buildReport(tenant, doc, await cache.counts(tenant), config.missCostMs, await handoffs.countOpen(tenant));
    },
    async close() {
      if (closed) return;
      closed = true;
      if (hitTimer) clearInterval(hitTimer);
      try {
        // Shutting down while the store is down: keep what could not be written, say so, still close cleanly.
        await cache.close().catch((err: unknown) => {
          if (!isOutage(err)) throw err;
          logger.warn({ err: (err as Error).message }, 'hit counts could not be written before exit (they only order the cache)');
        });
        try {
          await stats.close();
        } catch (err) {
          if (!isOutage(err)) throw err;
          const unwritten = stats.pendingSummary();
          let file: string | null = null;
          try {
            file = spoolStats(config.dataDir, stats.pendingDeltas());
          } catch (spoolErr) {
            logger.error({ err: (spoolErr as Error).message, unwritten }, 'statistics could not be written before exit, nor kept in the data folder: these counts are lost');
          }
          if (file) logger.error({ err: (err as Error).message, unwritten, file }, 'statistics could not be written before exit: kept in the data folder; the next start there adds them');
        }
        await model?.close();
        await semantic?.close();
        await embedder?.close();
      } finally {
        await store.close();
      }
    },
  };
}
