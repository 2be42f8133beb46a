/**
 * One lane of the paraphrase layer (layer.ts routes a question to the lane of its script): one embedding
 * model, its vectors of the FAQ's phrasings, its index and its calibrated rule (policy.ts). Embed the question,
 * find the nearest FAQ entries, apply the rule.
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
import { leaveOneOutSamples, sampleOf, type CalibrationSample } from './calibrate';
import { decide, defaultThresholds, pickOf, SEARCH_K, suggestionsFor, type Thresholds } from './policy';

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

const WRITE_BATCH = 200;

export const phrasingsOf = (e: Pick<CacheEntry, 'question' | 'alternates'>) => [e.question, ...e.alternates];
export const phrasingsHash = (phrasings: string[]) => hashText(JSON.stringify(phrasings));

/** What makes one lane differ from another: the texts it reads and where its vectors and thresholds live. */
export interface LaneSpec {
  name: string;
  /** The questions (and phrasings) this lane's model reads. */
  accepts(text: string): boolean;
  /**
   * true: every phrasing of an entry is embedded and the index keeps the accepted ones (the English lane, as
   * vectors were always stored); false: only accepted phrasings are embedded, so an English FAQ costs the
   * Chinese lane nothing.
   */
  embedsAll: boolean;
  vectorsKey(tenant: string, id: string): string;
  /** Without a tenant: the prefix of every tenant's vectors. */
  vectorsPrefix(tenant?: string): string;
  thresholdsKey(tenant: string): string;
}

export class Lane implements SemanticMatcher {
  private readonly built = new Map<string, Built>();
  private readonly building = new Map<string, Promise<Built>>();
  private loaded: Embedder | null = null;
  private loading: Promise<Embedder> | null = null;

  /** `embedder` may be a loader: a model only some teams need (Chinese) is loaded on first use. */
  constructor(
    private readonly cache: AnswerCache,
    private readonly embedderOrLoader: Embedder | (() => Promise<Embedder>),
    private readonly logger: Logger,
    readonly spec: LaneSpec,
    /** The model's name before it is loaded (thresholds are per model). */
    private readonly modelName: string = typeof embedderOrLoader === 'function' ? '' : embedderOrLoader.name,
  ) {
    if (typeof embedderOrLoader !== 'function') this.loaded = embedderOrLoader;
  }

  get model(): string {
    return this.loaded?.name ?? this.modelName;
  }

  private async embedder(): Promise<Embedder> {
    if (this.loaded) return this.loaded;
    if (typeof this.embedderOrLoader !== 'function') return this.embedderOrLoader;
    this.loading ??= this.embedderOrLoader().then((e) => (this.loaded = e));
    return this.loading;
  }

  /** The phrasings of an entry this lane embeds (see LaneSpec.embedsAll). */
  private embedded(e: Pick<CacheEntry, 'question' | 'alternates'>): string[] {
    const all = phrasingsOf(e);
    return this.spec.embedsAll ? all : all.filter((p) => this.spec.accepts(p));
  }

  /**
   * Loads a lazy lane's model now if any team has vectors of it, so the first Chinese question after a start
   * does not wait for the model. Never rejects: a model that cannot load is logged, and loads again on use.
   */
  async warm(): Promise<void> {
    if (this.loaded || typeof this.embedderOrLoader !== 'function') return;
    try {
      for await (const _ of this.cache.store.scan(this.spec.vectorsPrefix())) {
        await this.embedder();
        this.logger.info({ lane: this.spec.name, model: this.model }, 'loaded the paraphrase model of a second script');
        return;
      }
    } catch (err) {
      this.logger.warn({ lane: this.spec.name, err: (err as Error).message }, 'could not load the paraphrase model ahead of use');
    }
  }

  async close(): Promise<void> {
    await this.loading?.catch(() => undefined);
    await this.loaded?.close();
  }

  private async stampOf(tenant: string): Promise<{ stamp: string; thresholds: Thresholds }> {
    const [meta, th] = await this.cache.store.getMany<{ rev?: string; updatedAt?: number } & Thresholds>([keys.faqMeta(tenant), this.spec.thresholdsKey(tenant)]);
    const m = meta as { rev?: string; updatedAt?: number } | undefined;
    const thresholds = th && th.model === this.model ? (th as Thresholds) : defaultThresholds(this.model);
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
    for await (const [k, v] of this.cache.store.scan<VectorRecord>(this.spec.vectorsPrefix(tenant))) stored.set(k, v);
    let ops: StoreOp[] = [];
    let embedded = 0;
    for (const e of entries) {
      const k = this.spec.vectorsKey(tenant, e.id);
      const phrasings = this.embedded(e);
      const rec = stored.get(k);
      stored.delete(k);
      if (phrasings.length === 0) {
        if (rec) ops.push({ op: 'delete', key: k });
        continue;
      }
      if (rec && rec.model === this.model && rec.phrasings === phrasingsHash(phrasings)) continue;
      const embedder = await this.embedder();
      const vectors = await embedder.embed(phrasings);
      if (onProgress && (embedded + 1) % 1000 === 0) onProgress(embedded + 1, entries.length);
      ops.push({ op: 'set', key: k, value: { model: embedder.name, dims: embedder.dims, phrasings: phrasingsHash(phrasings), vectors: packVectors(vectors) } satisfies VectorRecord });
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
    const mine = entries.filter((e) => this.embedded(e).length > 0);
    const recs = await this.cache.store.getMany<VectorRecord>(mine.map((e) => this.spec.vectorsKey(tenant, e.id)));
    if (recs.some((r, i) => !r || r.model !== this.model || r.phrasings !== phrasingsHash(this.embedded(mine[i] as CacheEntry)))) {
      // Vectors missing (an FAQ preloaded without the embedder, or by an older version): embed them once, now.
      const s = await this.sync(tenant);
      this.logger.info({ tenant, embedded: s.embedded }, 'embedded FAQ entries that had no stored vectors');
      return this.build(tenant, stamp, thresholds);
    }
    const dims = (recs[0] as VectorRecord | undefined)?.dims ?? this.loaded?.dims ?? 1;
    const index = new VectorIndex(dims, mine.reduce((n, e) => n + 1 + e.alternates.length, 0));
    const byId = new Map<string, CacheEntry>();
    mine.forEach((e, i) => {
      const rec = recs[i] as VectorRecord;
      const vectors = unpackVectors(rec.vectors, rec.dims);
      const phrasings = this.embedded(e);
      const keep = phrasings.flatMap((p, j) => (this.spec.accepts(p) ? [j] : []));
      if (keep.length === 0) return;
      index.add({ id: e.id, tenant, phrasings: keep.map((j) => phrasings[j] as string) }, keep.map((j) => vectors[j] as Float32Array));
      byId.set(e.id, e);
    });
    // The team's classifier is fitted now, with the index, so that no lookup waits for it.
    index.classifier();
    const built: Built = { stamp, index, thresholds, byId };
    this.built.set(tenant, built);
    return built;
  }

  async embedQuestion(question: string): Promise<Float32Array> {
    const [v] = await (await this.embedder()).embed([question]);
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

  /** The tenant's FAQ as its own calibration set (see leaveOneOutSamples). */
  async faqSamples(tenant: string): Promise<CalibrationSample[]> {
    return leaveOneOutSamples((await this.indexFor(tenant)).index, SEARCH_K);
  }

  /** The k nearest entries of the tenant's FAQ (or the default FAQ serving it), best first. */
  async nearest(tenant: string, question: string, k: number): Promise<CacheEntry[]> {
    if (!this.spec.accepts(question)) return [];
    const b = await this.indexFor(await this.cache.faqTenant(tenant));
    if (b.index.size === 0) return [];
    const found = b.index.search(await this.embedQuestion(question), k);
    return found.flatMap((n) => {
      const e = b.byId.get(b.index.entries[n.entry]?.id ?? '');
      return e ? [e] : [];
    });
  }

  /** Stores fitted thresholds for the tenant; every replica's index picks them up at its next lookup. */
  async saveThresholds(tenant: string, th: Thresholds): Promise<void> {
    await this.cache.store.set(this.spec.thresholdsKey(tenant), th);
  }

  async match(tenant: string, question: string): Promise<SemanticOutcome> {
    if (!this.spec.accepts(question)) return { hit: null, score: null, suggestions: [] };
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
      { tenant, lane: this.spec.name, entry: score.entryId, similarity: round(score.similarity), margin: round(score.margin), confidence: round(score.confidence), required: score.requiredConfidence, decision: score.decision },
      'semantic lookup',
    );
    const entryAt = (i: number): CacheEntry | undefined => b.byId.get(idOf(i));
    if (score.decision === 'hit') {
      const first = found[pickOf(found, b.thresholds.classifier === true)];
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
