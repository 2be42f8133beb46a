/**
 * The paraphrase layer the Answerer calls after the exact and normalized keys missed: embed the question,
 * find the nearest FAQ entries, and apply the calibrated rule (policy.ts).
 *
 * Vectors are stored with the entries (kv1:e:<tenant>:<id>), written when an FAQ is preloaded, so a restart
 * embeds nothing; a record made by another model or for other phrasings is re-embedded. The in-process index
 * of a tenant is rebuilt when its FAQ revision or its thresholds change. Generated answers never join the
 * index: matching a paraphrase to a model's answer would stack two uncertain steps, and precision comes first.
 */
import type { AnswerCache } from '../core/cache';
import { DEFAULT_TENANT, hashText, keys } from '../core/keys';
import type { CacheEntry, SemanticMatch, SemanticMatcher, SemanticOutcome } from '../core/types';
import type { Embedder } from '../embed/embedder';
import type { Logger } from '../logger';
import type { StoreOp } from '../store/types';
import { packVectors, unpackVectors, VectorIndex } from './index';
import { sampleOf, type CalibrationSample } from './calibrate';
import { embeddable } from './script';
import { decide, defaultThresholds, suggestionsFor, type Thresholds } from './policy';

export interface VectorRecord {
  model: string;
  dims: number;
  /** Hash of the phrasings the vectors belong to, in order. */
  phrasings: string;
  vectors: string;
}

interface Built {
  stamp: string;
  index: VectorIndex;
  thresholds: Thresholds;
  byId: Map<string, CacheEntry>;
}

const SEARCH_K = 4;
const WRITE_BATCH = 200;

export const phrasingsOf = (e: Pick<CacheEntry, 'question' | 'alternates'>) => [e.question, ...e.alternates];
export const phrasingsHash = (phrasings: string[]) => hashText(JSON.stringify(phrasings));

export class SemanticLayer implements SemanticMatcher {
  private readonly built = new Map<string, Built>();
  private readonly building = new Map<string, Promise<Built>>();

  constructor(
    private readonly cache: AnswerCache,
    private readonly embedder: Embedder,
    private readonly logger: Logger,
  ) {}

  get model(): string {
    return this.embedder.name;
  }

  private async stampOf(tenant: string): Promise<{ stamp: string; thresholds: Thresholds }> {
    const [meta, th] = await this.cache.store.getMany<{ rev?: string; updatedAt?: number } & Thresholds>([keys.faqMeta(tenant), keys.thresholds(tenant)]);
    const m = meta as { rev?: string; updatedAt?: number } | undefined;
    const thresholds = th && th.model === this.embedder.name ? (th as Thresholds) : defaultThresholds(this.embedder.name);
    return { stamp: `${m?.rev ?? m?.updatedAt ?? 0}/${thresholds.calibratedAt ?? 0}`, thresholds };
  }

  /**
   * Makes sure every FAQ entry of the tenant has current vectors in the store (embedding only what is missing
   * or stale, and dropping vectors of entries that are gone). Returns how many entries were embedded.
   */
  async sync(tenant: string, onProgress?: (done: number, total: number) => void): Promise<{ embedded: number; removed: number; entries: number }> {
    const entries: CacheEntry[] = [];
    for await (const e of this.cache.entries(tenant, 'faq')) entries.push(e);
    const stored = new Map<string, VectorRecord>();
    for await (const [k, v] of this.cache.store.scan<VectorRecord>(keys.vectorsPrefix(tenant))) stored.set(k, v);
    let ops: StoreOp[] = [];
    let embedded = 0;
    for (const e of entries) {
      const k = keys.vectors(tenant, e.id);
      const phrasings = phrasingsOf(e);
      const rec = stored.get(k);
      stored.delete(k);
      if (rec && rec.model === this.embedder.name && rec.phrasings === phrasingsHash(phrasings)) continue;
      const vectors = await this.embedder.embed(phrasings);
      if (onProgress && (embedded + 1) % 1000 === 0) onProgress(embedded + 1, entries.length);
      ops.push({ op: 'set', key: k, value: { model: this.embedder.name, dims: this.embedder.dims, phrasings: phrasingsHash(phrasings), vectors: packVectors(vectors) } satisfies VectorRecord });
      embedded += 1;
      if (ops.length >= WRITE_BATCH) {
        await this.cache.store.apply(ops);
        ops = [];
      }
    }
    for (const k of stored.keys()) ops.push({ op: 'delete', key: k });
    if (ops.length > 0) await this.cache.store.apply(ops);
    if (embedded > 0) this.built.delete(tenant);
    return { embedded, removed: stored.size, entries: entries.length };
  }

  /** The tenant's index, rebuilt when its FAQ or thresholds changed since it was built. */
  async indexFor(tenant: string): Promise<Built> {
    const { stamp, thresholds } = await this.stampOf(tenant);
    const have = this.built.get(tenant);
    if (have && have.stamp === stamp) return have;
    let pending = this.building.get(tenant);
    if (!pending) {
      pending = this.build(tenant, stamp, thresholds).finally(() => this.building.delete(tenant));
      this.building.set(tenant, pending);
    }
    return pending;
  }

  private async build(tenant: string, stamp: string, thresholds: Thresholds): Promise<Built> {
    const entries: CacheEntry[] = [];
    for await (const e of this.cache.entries(tenant, 'faq')) entries.push(e);
    const recs = await this.cache.store.getMany<VectorRecord>(entries.map((e) => keys.vectors(tenant, e.id)));
    if (recs.some((r, i) => !r || r.model !== this.embedder.name || r.phrasings !== phrasingsHash(phrasingsOf(entries[i] as CacheEntry)))) {
      // Vectors missing (an FAQ preloaded without the embedder, or by an older version): embed them once, now.
      const s = await this.sync(tenant);
      this.logger.info({ tenant, embedded: s.embedded }, 'embedded FAQ entries that had no stored vectors');
      return this.build(tenant, stamp, thresholds);
    }
    const index = new VectorIndex(this.embedder.dims, entries.reduce((n, e) => n + 1 + e.alternates.length, 0));
    const byId = new Map<string, CacheEntry>();
    entries.forEach((e, i) => {
      const rec = recs[i] as VectorRecord;
      const vectors = unpackVectors(rec.vectors, rec.dims);
      const keep = phrasingsOf(e).flatMap((p, j) => (embeddable(p) ? [j] : []));
      if (keep.length === 0) return;
      index.add({ id: e.id, tenant, phrasings: keep.map((j) => phrasingsOf(e)[j] as string) }, keep.map((j) => vectors[j] as Float32Array));
      byId.set(e.id, e);
    });
    const built: Built = { stamp, index, thresholds, byId };
    this.built.set(tenant, built);
    return built;
  }

  async embedQuestion(question: string): Promise<Float32Array> {
    const [v] = await this.embedder.embed([question]);
    if (!v) throw new Error('the embedder returned no vector');
    return v;
  }

  /**
   * Searches each labelled question against the tenant's own FAQ and returns what calibration needs.
   * Questions are embedded one by one (see embedder.ts); `onProgress` reports every 500.
   */
  async samplesFor(tenant: string, labelled: Array<{ question: string; label: string | null }>, onProgress?: (done: number) => void): Promise<CalibrationSample[]> {
    const b = await this.indexFor(tenant);
    const out: CalibrationSample[] = [];
    const idOf = (i: number) => b.index.entries[i]?.id ?? '';
    for (const [i, l] of labelled.entries()) {
      const s = sampleOf(l.label, b.index.search(await this.embedQuestion(l.question), SEARCH_K), idOf);
      if (s) out.push(s);
      if (onProgress && (i + 1) % 500 === 0) onProgress(i + 1);
    }
    return out;
  }

  /** Stores fitted thresholds for the tenant; every replica's index picks them up at its next lookup. */
  async saveThresholds(tenant: string, th: Thresholds): Promise<void> {
    await this.cache.store.set(keys.thresholds(tenant), th);
  }

  async match(tenant: string, question: string): Promise<SemanticOutcome> {
    if (!embeddable(question)) return { hit: null, score: null, suggestions: [] };
    let source: string;
    let b: Built;
    try {
      source = await this.cache.faqTenant(tenant);
      b = await this.indexFor(source);
    } catch (err) {
      // Store down: the index already in memory still answers paraphrases.
      source = this.built.has(tenant) ? tenant : DEFAULT_TENANT;
      const known = this.built.get(source);
      if (!known) throw err;
      b = known;
    }
    if (b.index.size === 0) return { hit: null, score: null, suggestions: [] };
    const found = b.index.search(await this.embedQuestion(question), SEARCH_K);
    const idOf = (i: number) => b.index.entries[i]?.id ?? '';
    const score = decide(found, idOf, b.thresholds);
    if (!score) return { hit: null, score: null, suggestions: [] };
    // Every lookup that reaches this layer logs why it hit or missed; ids and numbers only, never the text.
    this.logger.info(
      { tenant, entry: score.entryId, similarity: round(score.similarity), margin: round(score.margin), confidence: round(score.confidence), required: score.requiredConfidence, decision: score.decision },
      'semantic lookup',
    );
    const entryAt = (i: number): CacheEntry | undefined => b.byId.get(idOf(i));
    if (score.decision === 'hit') {
      const first = found[0];
      const entry = first ? entryAt(first.entry) : undefined;
      if (first && entry) {
        const hit: SemanticMatch = { entry, score: score.similarity, matchedQuestion: b.index.entries[first.entry]?.phrasings[first.phrasing] ?? entry.question };
        return { hit, score, suggestions: [] };
      }
    }
    const suggestions =
      score.decision === 'suggest'
        ? suggestionsFor(found, idOf, b.thresholds).flatMap((n) => {
            const e = entryAt(n.entry);
            return e ? [{ entryId: e.id, entryTenant: source, question: e.question, similarity: n.similarity }] : [];
          })
        : [];
    return { hit: null, score, suggestions };
  }
}

const round = (x: number) => Math.round(x * 10_000) / 10_000;
