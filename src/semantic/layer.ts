/**
 * The paraphrase layer the Answerer calls after the exact and normalized keys missed. A question goes to the
 * lane of its script (lane.ts): English and other alphabetic text to all-MiniLM-L6-v2, Chinese, Japanese and
 * Korean to multilingual-e5-small, each lane with its own vectors, index and calibrated rule. Why two models and
 * not e5 for everything: on English questions MiniLM is as accurate (BANKING77 nearest-neighbour 0.918 vs 0.904)
 * at a quarter of the time per query (2.0 vs 8.2 ms median, 5.4 vs 18.3 ms p99, models/multilingual-e5-small),
 * and the lookup budget is 15 ms; MiniLM reads no Chinese at all. The Chinese model is loaded on first use, so
 * a team without Chinese phrasings or questions never pays its 270 MB.
 *
 * Generated answers never join an index: matching a paraphrase to a model's answer would stack two uncertain
 * steps, and precision comes first.
 */
import type { AnswerCache } from '../core/cache';
import type { CacheEntry } from '../core/types';
import { keys } from '../core/keys';
import type { SemanticMatcher, SemanticOutcome } from '../core/types';
import type { Embedder } from '../embed/embedder';
import type { Logger } from '../logger';
import type { CalibrationSample } from './calibrate';
import { Lane, type LaneSpec } from './lane';
import type { Thresholds } from './policy';
import { cjkShare } from './script';

export { phrasingsHash, phrasingsOf, type VectorRecord } from './lane';

const isCjk = (text: string) => cjkShare(text) >= 0.3;

export const ENGLISH_LANE: LaneSpec = {
  name: 'en',
  accepts: (t) => !isCjk(t),
  embedsAll: true,
  vectorsKey: keys.vectors,
  vectorsPrefix: keys.vectorsPrefix,
  thresholdsKey: keys.thresholds,
};

export const CJK_LANE: LaneSpec = {
  name: 'cjk',
  accepts: isCjk,
  embedsAll: false,
  vectorsKey: keys.cjkVectors,
  vectorsPrefix: keys.cjkVectorsPrefix,
  thresholdsKey: keys.cjkThresholds,
};

export interface CjkModel {
  name: string;
  load(): Promise<Embedder>;
}

export class SemanticLayer implements SemanticMatcher {
  readonly lanes: Lane[];

  constructor(cache: AnswerCache, embedder: Embedder, logger: Logger, cjk: CjkModel | null = null) {
    this.lanes = [new Lane(cache, embedder, logger, ENGLISH_LANE)];
    if (cjk) this.lanes.push(new Lane(cache, () => cjk.load(), logger, CJK_LANE, cjk.name));
  }

  /** The English lane's model (the one `calibrate` reports first). */
  get model(): string {
    return (this.lanes[0] as Lane).model;
  }

  /** The lane a question or phrasing goes to, or null when no lane reads its script (no CJK model configured). */
  laneFor(text: string): Lane | null {
    return this.lanes.find((l) => l.spec.accepts(text)) ?? null;
  }

  /** Brings every lane's stored vectors up to date with the tenant's FAQ. */
  async sync(tenant: string, onProgress?: (done: number, total: number) => void): Promise<{ embedded: number; removed: number; entries: number }> {
    let embedded = 0;
    let removed = 0;
    let entries = 0;
    for (const lane of this.lanes) {
      const r = await lane.sync(tenant, onProgress);
      embedded += r.embedded;
      removed += r.removed;
      entries = Math.max(entries, r.entries);
    }
    return { embedded, removed, entries };
  }

  /** The English lane's index (callers that check whether a team has an FAQ at all). */
  indexFor(tenant: string): ReturnType<Lane['indexFor']> {
    return (this.lanes[0] as Lane).indexFor(tenant);
  }

  samplesFor(tenant: string, labelled: Array<{ question: string; label: string | null }>, onProgress?: (done: number) => void): Promise<CalibrationSample[]> {
    return (this.lanes[0] as Lane).samplesFor(tenant, labelled, onProgress);
  }

  saveThresholds(tenant: string, th: Thresholds): Promise<void> {
    return (this.lanes[0] as Lane).saveThresholds(tenant, th);
  }

  async match(tenant: string, question: string): Promise<SemanticOutcome> {
    const lane = this.laneFor(question);
    return lane ? lane.match(tenant, question) : { hit: null, score: null, suggestions: [] };
  }

  /** The FAQ entries nearest to a question by meaning, best first (generation's context, beside BM25's). */
  async nearest(tenant: string, question: string, k: number): Promise<CacheEntry[]> {
    const lane = this.laneFor(question);
    return lane ? lane.nearest(tenant, question, k) : [];
  }

  /** Loads the models of the lazy lanes some team already uses (a long-running process, at start). */
  async warm(): Promise<void> {
    await Promise.all(this.lanes.slice(1).map((lane) => lane.warm()));
  }

  async close(): Promise<void> {
    for (const lane of this.lanes.slice(1)) await lane.close();
  }
}
