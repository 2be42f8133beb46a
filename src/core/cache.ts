/**
 * AnswerCache: question -> answer over a KvStore. Lookup order is exact key, then normalized key; the semantic
 * layer and the model plug in after it (see Answerer). FAQ entries are pinned (no TTL, never evicted); generated
 * and manual entries carry a TTL and live under a capacity bound with least-recently-used eviction.
 */
import { randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { KvcacheError } from '../errors';
import type { KvStore, StoreOp } from '../store/types';
import { exactForm, normalizeQuestion } from './normalize';
import { DEFAULT_TENANT, hashText, keys, parseEntryKey, type Pointer } from './keys';
import type { StatsRecorder } from './stats';
import type { CacheEntry, Clock } from './types';

export interface CacheOptions {
  store: KvStore;
  clock: Clock;
  stats: StatsRecorder;
  /** TTL of generated and manual entries. */
  ttlMs: number;
  /** Capacity of generated and manual entries (all tenants together); FAQ entries do not count. */
  maxEntries: number;
}

export interface CacheHit {
  entry: CacheEntry;
  tier: 'exact' | 'normalized';
  matchedQuestion: string;
}

export interface DynamicInput {
  question: string;
  answer: string;
  source: 'generated' | 'manual';
  usedEntries?: string[];
}

const MAX_PENDING_HITS = 10_000;
const HIT_FLUSH_BATCH = 500;

/** The store keys a phrasing is indexed under. */
export function phrasingKeys(tenant: string, text: string): { exact: string; normalized: string | null } {
  const n = normalizeQuestion(text);
  return { exact: keys.exact(tenant, exactForm(text)), normalized: n === '' ? null : keys.normalized(tenant, n) };
}

/** FAQ and team entries are pinned (kv1:f:, no TTL, never evicted); generated and manual ones are not. */
export const isPinned = (source: CacheEntry['source']) => source === 'faq' || source === 'team';

export function entryKey(e: Pick<CacheEntry, 'tenant' | 'id' | 'source'>): string {
  return keys.entry(e.tenant, e.id, isPinned(e.source));
}

export interface TeamInput {
  question: string;
  answer: string;
  answeredBy: string;
  /** The hand-off it answers, e.g. "hand-off #12". */
  origin: string;
  /** An FAQ entry this question is another wording of: its answer is used (and kept current by preload). */
  linkedTo?: string;
}

/** Every pointer key an entry owns (its question and alternates, exact and normalized). */
export function pointerKeysOf(e: Pick<CacheEntry, 'tenant' | 'question' | 'alternates'>): string[] {
  const out = new Set<string>();
  for (const p of [e.question, ...e.alternates]) {
    const k = phrasingKeys(e.tenant, p);
    out.add(k.exact);
    if (k.normalized) out.add(k.normalized);
  }
  return [...out];
}

export class AnswerCache {
  readonly store: KvStore;
  private readonly clock: Clock;
  private readonly stats: StatsRecorder;
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly pendingHits = new Map<string, { n: number; last: number }>();
  // Whether a team has its own FAQ; re-read every 5 s, so a preload by another process is seen within that.
  private readonly ownFaq = new LRUCache<string, boolean>({ max: 10_000, ttl: 5_000 });
  private tracker: LRUCache<string, number> | null = null;
  private trackerLoading: Promise<LRUCache<string, number>> | null = null;
  private readonly evictions: Array<Promise<void>> = [];

  constructor(opts: CacheOptions) {
    if (!(opts.maxEntries >= 1) || !(opts.ttlMs >= 1)) {
      throw new KvcacheError('CONFIG_INVALID', 'the answer cache needs a capacity and a TTL of at least 1');
    }
    this.store = opts.store;
    this.clock = opts.clock;
    this.stats = opts.stats;
    this.ttlMs = opts.ttlMs;
    this.maxEntries = opts.maxEntries;
  }

  /**
   * Exact then normalized key in the tenant; a tenant without an FAQ of its own falls back to the default FAQ.
   * `forms`: exactForm(question) and normalizeQuestion(question) when the caller has them already (the
   * answerer does), so the hit path does not normalize twice.
   */
  async lookup(tenant: string, question: string, forms?: { exact: string; normalized: string }): Promise<CacheHit | null> {
    const exact = forms?.exact ?? exactForm(question);
    const normalized = forms?.normalized ?? normalizeQuestion(question);
    const hit = await this.lookupIn(tenant, exact, normalized, false);
    if (hit || tenant === DEFAULT_TENANT || (await this.hasOwnFaq(tenant))) return hit;
    return this.lookupIn(DEFAULT_TENANT, exact, normalized, true);
  }

  private async lookupIn(tenant: string, exact: string, normalized: string, faqOnly: boolean): Promise<CacheHit | null> {
    // Both pointers in one store call: one round trip instead of two when the exact key misses.
    const tiers: Array<['exact' | 'normalized', string]> = [['exact', keys.exact(tenant, exact)]];
    if (normalized !== '') tiers.push(['normalized', keys.normalized(tenant, normalized)]);
    const ptrs = await this.store.getMany<Pointer & { q?: string }>(tiers.map(([, k]) => k));
    for (let i = 0; i < tiers.length; i++) {
      const ptr = ptrs[i];
      const tier = tiers[i];
      if (!ptr || !tier || (faqOnly && !ptr.pinned)) continue;
      // A pointer whose entry is gone (expired, or mid-way through another process's write) is a miss; it is
      // not deleted here, because a read must never race a writer. Pointers of dynamic entries expire with them.
      const entry = await this.readEntry(tenant, ptr.id, ptr.pinned);
      if (!entry) continue;
      this.noteHit(entry);
      return { entry, tier: tier[0], matchedQuestion: ptr.q ?? entry.question };
    }
    return null;
  }

  private async readEntry(tenant: string, id: string, pinned: boolean): Promise<CacheEntry | null> {
    const e = await this.store.get<CacheEntry>(keys.entry(tenant, id, pinned));
    if (!e) return null;
    if (e.expiresAt !== null && e.expiresAt <= this.clock.now()) return null;
    return e;
  }

  async getEntry(tenant: string, id: string): Promise<CacheEntry | null> {
    return (await this.readEntry(tenant, id, true)) ?? (await this.readEntry(tenant, id, false));
  }

  /** The tenant whose FAQ answers this tenant: its own, or the default FAQ when it has none. */
  async faqTenant(tenant: string): Promise<string> {
    return tenant === DEFAULT_TENANT || (await this.hasOwnFaq(tenant)) ? tenant : DEFAULT_TENANT;
  }

  private async hasOwnFaq(tenant: string): Promise<boolean> {
    const cached = this.ownFaq.get(tenant);
    if (cached !== undefined) return cached;
    const meta = await this.store.get<{ count: number }>(keys.faqMeta(tenant));
    const own = (meta?.count ?? 0) > 0;
    this.ownFaq.set(tenant, own);
    return own;
  }

  private noteHit(entry: CacheEntry): void {
    const k = entryKey(entry);
    const p = this.pendingHits.get(k);
    const now = this.clock.now();
    if (p) {
      p.n += 1;
      p.last = now;
    } else {
      this.pendingHits.set(k, { n: 1, last: now });
    }
    if (entry.source !== 'faq') this.tracker?.get(k); // refresh recency
    if (this.pendingHits.size >= MAX_PENDING_HITS) void this.flushHits().catch(() => undefined);
  }

  /**
   * Writes accumulated hit counts into the entries (write-behind: a hit never waits on a write), in small
   * batches so a busy second's worth of counts never blocks lookups for long. Each entry is updated in place,
   * atomically: a count never overwrites an answer changed, or brings back an entry forgotten, by another
   * process since it was read, and two replicas' counts add up.
   */
  async flushHits(): Promise<void> {
    const batch = [...this.pendingHits.entries()];
    this.pendingHits.clear();
    for (let i = 0; i < batch.length; i += HIT_FLUSH_BATCH) {
      const part = new Map(batch.slice(i, i + HIT_FLUSH_BATCH));
      const now = this.clock.now();
      await this.store.update<CacheEntry>([...part.keys()], (k, e) => {
        const h = part.get(k);
        if (!h || (e.expiresAt !== null && e.expiresAt <= now)) return undefined;
        return { ...e, hitCount: e.hitCount + h.n, lastHitAt: Math.max(e.lastHitAt ?? 0, h.last) };
      });
      await new Promise<void>((r) => setImmediate(r));
    }
  }

  /** Stores a generated or manual answer under the asker's exact and normalized keys. */
  async put(tenant: string, input: DynamicInput): Promise<CacheEntry> {
    const ex = exactForm(input.question);
    const nm = normalizeQuestion(input.question);
    const pk = phrasingKeys(tenant, input.question);
    const current = await this.store.get<Pointer>(pk.normalized ?? pk.exact);
    if (current?.pinned) {
      throw new KvcacheError(
        'FAQ_CONFLICT',
        current.id.startsWith('t-')
          ? `"${ex}" is already answered by the support team (entry "${current.id}"); remove it with \`kvcache forget --id ${current.id}\` first`
          : `"${ex}" is already answered by FAQ entry "${current.id}"; change that entry in the FAQ file and preload it again`,
      );
    }
    const now = this.clock.now();
    const id = `d-${hashText(nm === '' ? ex : nm).slice(0, 16)}`;
    const entry: CacheEntry = {
      ...this.freshEntry(tenant, id, ex, input.answer, input.source, await this.readEntry(tenant, id, false), now),
      expiresAt: now + this.ttlMs,
      ...(input.usedEntries ? { usedEntries: [...input.usedEntries] } : {}),
    };
    const ptr: Pointer & { q: string } = { id, pinned: false, q: ex };
    const ops: StoreOp[] = [{ op: 'set', key: entryKey(entry), value: entry, ttlMs: this.ttlMs }];
    ops.push({ op: 'set', key: pk.exact, value: ptr, ttlMs: this.ttlMs });
    if (pk.normalized) ops.push({ op: 'set', key: pk.normalized, value: ptr, ttlMs: this.ttlMs });
    await this.store.apply(ops);
    const tracker = await this.loadTracker();
    tracker.set(entryKey(entry), entry.expiresAt ?? 0);
    await this.settleEvictions();
    return entry;
  }

  /**
   * Stores the support team's answer to a question as a pinned `team` entry under the question's exact and
   * normalized keys (replacing a generated or manual answer there), and changes the FAQ revision so every
   * replica's paraphrase index takes it in. A question an FAQ entry already answers is refused: the FAQ wins.
   */
  async putTeam(tenant: string, input: TeamInput): Promise<CacheEntry> {
    const ex = exactForm(input.question);
    const nm = normalizeQuestion(input.question);
    const pk = phrasingKeys(tenant, input.question);
    const ptrKeys = [pk.exact, ...(pk.normalized ? [pk.normalized] : [])];
    const current = await this.store.getMany<Pointer>(ptrKeys);
    const id = `t-${hashText(nm === '' ? ex : nm).slice(0, 16)}`;
    const ops: StoreOp[] = [];
    for (const p of current) {
      if (!p || p.id === id) continue;
      if (p.pinned) {
        const owner = await this.readEntry(tenant, p.id, true);
        if (owner && owner.source === 'faq') {
          throw new KvcacheError('FAQ_CONFLICT', `"${ex}" is already answered by FAQ entry "${p.id}"; change that entry in the FAQ file instead`);
        }
      } else {
        // A generated or manual answer to the same question gives way to the team's.
        const old = await this.readEntry(tenant, p.id, false);
        if (old) {
          ops.push({ op: 'delete', key: entryKey(old) });
          this.tracker?.delete(entryKey(old));
        }
      }
    }
    const now = this.clock.now();
    const entry: CacheEntry = {
      ...this.freshEntry(tenant, id, ex, input.answer, 'team', await this.readEntry(tenant, id, true), now),
      origin: input.origin,
      answeredBy: input.answeredBy,
      ...(input.linkedTo ? { linkedTo: input.linkedTo, usedEntries: [input.linkedTo] } : {}),
    };
    const ptr: Pointer & { q: string } = { id, pinned: true, q: ex };
    ops.push({ op: 'set', key: entryKey(entry), value: entry });
    for (const k of ptrKeys) ops.push({ op: 'set', key: k, value: ptr });
    // The revision changes (the count does not: team entries do not make a tenant's own FAQ).
    const meta = await this.store.get<{ count: number }>(keys.faqMeta(tenant));
    ops.push({ op: 'set', key: keys.faqMeta(tenant), value: { count: meta?.count ?? 0, updatedAt: now, rev: randomUUID() } });
    await this.store.apply(ops);
    return entry;
  }

  /** A new answer for a question, keeping the history (creation, hits) of the entry it replaces. Pinned: no expiry. */
  private freshEntry(tenant: string, id: string, question: string, answer: string, source: CacheEntry['source'], previous: CacheEntry | null, now: number): CacheEntry {
    return {
      id,
      tenant,
      question,
      answer,
      source,
      alternates: [],
      tags: [],
      createdAt: previous?.createdAt ?? now,
      updatedAt: now,
      hitCount: previous?.hitCount ?? 0,
      lastHitAt: previous?.lastHitAt ?? null,
      expiresAt: null,
    };
  }

  /** Removes an entry and the pointers that still point at it. */
  async remove(entry: CacheEntry): Promise<void> {
    const ptrKeys = pointerKeysOf(entry);
    const ptrs = await this.store.getMany<Pointer>(ptrKeys);
    const ops: StoreOp[] = [{ op: 'delete', key: entryKey(entry) }];
    ptrKeys.forEach((k, i) => {
      const p = ptrs[i];
      if (p && p.id === entry.id && p.pinned === isPinned(entry.source)) ops.push({ op: 'delete', key: k });
    });
    if (entry.source === 'team') {
      // The index must drop it; the count of the tenant's own FAQ does not include team entries.
      const meta = await this.store.get<{ count: number }>(keys.faqMeta(entry.tenant));
      ops.push({ op: 'set', key: keys.faqMeta(entry.tenant), value: { count: meta?.count ?? 0, updatedAt: this.clock.now(), rev: randomUUID() } });
    } else if (entry.source === 'faq') {
      // Whatever was built from the FAQ (the retrieval index) must see that it changed.
      const meta = await this.store.get<{ count: number }>(keys.faqMeta(entry.tenant));
      const count = Math.max(0, (meta?.count ?? 1) - 1);
      ops.push({ op: 'set', key: keys.faqMeta(entry.tenant), value: { count, updatedAt: this.clock.now(), rev: randomUUID() } });
    }
    await this.store.apply(ops);
    this.tracker?.delete(entryKey(entry));
    this.pendingHits.delete(entryKey(entry));
    if (entry.source === 'faq') this.ownFaq.delete(entry.tenant);
  }

  /** Forgets whatever answers this question (exact, then normalized key). */
  async forgetQuestion(tenant: string, question: string): Promise<CacheEntry | null> {
    const pk = phrasingKeys(tenant, question);
    for (const k of [pk.exact, pk.normalized]) {
      if (!k) continue;
      const ptr = await this.store.get<Pointer>(k);
      if (!ptr) continue;
      const e = await this.readEntry(tenant, ptr.id, ptr.pinned);
      if (e) {
        await this.remove(e);
        return e;
      }
    }
    return null;
  }

  async forgetId(tenant: string, id: string): Promise<CacheEntry | null> {
    const e = await this.getEntry(tenant, id);
    if (e) await this.remove(e);
    return e;
  }

  /** The tenant's entries: FAQ (pinned), dynamic (generated and manual), or both. Expired entries are skipped. */
  async *entries(tenant: string, which: 'faq' | 'dynamic' | 'all' = 'all'): AsyncGenerator<CacheEntry> {
    const now = this.clock.now();
    const prefixes =
      which === 'faq' ? [keys.faqPrefix(tenant)] : which === 'dynamic' ? [keys.dynamicPrefix(tenant)] : [keys.faqPrefix(tenant), keys.dynamicPrefix(tenant)];
    for (const prefix of prefixes) {
      for await (const [, e] of this.store.scan<CacheEntry>(prefix)) {
        if (e.expiresAt !== null && e.expiresAt <= now) continue;
        yield e;
      }
    }
  }

  async counts(tenant: string): Promise<{ faq: number; generated: number; manual: number; team: number }> {
    const c = { faq: 0, generated: 0, manual: 0, team: 0 };
    for await (const e of this.entries(tenant)) c[e.source] += 1;
    return c;
  }

  /**
   * The LRU order of dynamic entries, rebuilt from the store on first need (from each entry's last use), so
   * the capacity bound holds across restarts. The dispose hook turns a capacity eviction into a store delete.
   */
  private loadTracker(): Promise<LRUCache<string, number>> {
    if (this.tracker) return Promise.resolve(this.tracker);
    this.trackerLoading ??= (async () => {
      const seen: Array<[string, number, number]> = [];
      for await (const [k, e] of this.store.scan<CacheEntry>(keys.dynamicPrefix())) {
        seen.push([k, Math.max(e.lastHitAt ?? 0, e.updatedAt), e.expiresAt ?? 0]);
      }
      seen.sort((a, b) => a[1] - b[1]);
      const t = new LRUCache<string, number>({
        max: this.maxEntries,
        dispose: (expiresAt, key, reason) => {
          if (reason === 'evict') this.evictions.push(this.evict(key, expiresAt));
        },
      });
      for (const [k, , exp] of seen) t.set(k, exp);
      this.tracker = t;
      return t;
    })();
    return this.trackerLoading;
  }

  private async evict(key: string, expiresAt: number): Promise<void> {
    const parsed = parseEntryKey(key);
    const e = await this.store.get<CacheEntry>(key);
    if (!parsed || !e) return;
    await this.remove(e);
    // An entry that had already expired was not pushed out by capacity: do not count it as an eviction.
    if (expiresAt > this.clock.now()) this.stats.recordEvictions(parsed.tenant, 1);
  }

  private async settleEvictions(): Promise<void> {
    while (this.evictions.length > 0) await Promise.all(this.evictions.splice(0));
  }

  /** How many generated/manual entries the LRU tracks (loads it if needed). */
  async trackedCount(): Promise<number> {
    return (await this.loadTracker()).size;
  }

  async close(): Promise<void> {
    await this.settleEvictions();
    await this.flushHits();
  }
}
