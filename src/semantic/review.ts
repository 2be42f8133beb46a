/**
 * The active-learning loop (QnA Maker's "suggestions"): when someone picks a "did you mean" entry, their
 * phrasing becomes a candidate alternate of that entry. `kvcache review` lists the candidates; accepting one
 * adds it to the entry's alternates (keys, vectors and all), rejecting drops it. Candidates of a tenant live in
 * one bounded document (oldest dropped first), so the list can never grow without limit.
 */
import { randomUUID } from 'node:crypto';
import { entryKey, isPinned, phrasingKeys, pointerKeysOf, type AnswerCache } from '../core/cache';
import { keys, type Pointer } from '../core/keys';
import { exactForm, normalizeQuestion } from '../core/normalize';
import type { CacheEntry, Clock } from '../core/types';
import { KvcacheError } from '../errors';
import type { StoreOp } from '../store/types';
import type { SemanticLayer } from './layer';

export const MAX_CANDIDATES = 200;

export interface Candidate {
  /** The phrasing as the user wrote it. */
  question: string;
  normalized: string;
  entryId: string;
  /** The tenant holding the entry. */
  entryTenant: string;
  count: number;
  firstAt: number;
  lastAt: number;
}

interface ReviewDoc {
  candidates: Candidate[];
}

export class ReviewQueue {
  constructor(
    private readonly cache: AnswerCache,
    private readonly clock: Clock,
    private readonly semantic: SemanticLayer | null,
  ) {}

  async list(tenant: string): Promise<Candidate[]> {
    const doc = await this.cache.store.get<ReviewDoc>(keys.review(tenant));
    return doc?.candidates ?? [];
  }

  /** Records that a user of `tenant` asked `question` and chose `entryId`. */
  async record(tenant: string, question: string, entryTenant: string, entryId: string): Promise<void> {
    const q = exactForm(question);
    const normalized = normalizeQuestion(q);
    if (normalized === '') return;
    const doc = (await this.cache.store.get<ReviewDoc>(keys.review(tenant))) ?? { candidates: [] };
    const now = this.clock.now();
    const same = doc.candidates.find((c) => c.normalized === normalized && c.entryId === entryId && c.entryTenant === entryTenant);
    if (same) {
      same.count += 1;
      same.lastAt = now;
    } else {
      doc.candidates.push({ question: q, normalized, entryId, entryTenant, count: 1, firstAt: now, lastAt: now });
      if (doc.candidates.length > MAX_CANDIDATES) doc.candidates.splice(0, doc.candidates.length - MAX_CANDIDATES);
    }
    await this.cache.store.set(keys.review(tenant), doc);
  }

  private async take(tenant: string, index: number): Promise<{ doc: ReviewDoc; cand: Candidate }> {
    const doc = (await this.cache.store.get<ReviewDoc>(keys.review(tenant))) ?? { candidates: [] };
    const cand = doc.candidates[index - 1];
    if (!cand) {
      throw new KvcacheError('NOT_FOUND', `there is no candidate number ${index} for team ${tenant} (${doc.candidates.length} waiting); run \`kvcache review\` to list them`);
    }
    doc.candidates.splice(index - 1, 1);
    return { doc, cand };
  }

  /**
   * The user picked a "did you mean" entry: their phrasing becomes a candidate, and the entry answers them.
   * Returns null when the entry is gone (removed since it was offered).
   */
  async choose(tenant: string, question: string, s: { entryTenant: string; entryId: string }): Promise<CacheEntry | null> {
    const entry = await this.cache.getEntry(s.entryTenant, s.entryId);
    if (!entry) return null;
    await this.record(tenant, question, s.entryTenant, s.entryId);
    return entry;
  }

  async reject(tenant: string, index: number): Promise<Candidate> {
    const { doc, cand } = await this.take(tenant, index);
    await this.cache.store.set(keys.review(tenant), doc);
    return cand;
  }

  /**
   * Adds the candidate to its entry's alternates: the entry, its two new pointer keys and the drop of the
   * candidate are one batch; the entry's vectors are refreshed right after. The FAQ revision changes, so every
   * replica rebuilds its index. A phrasing another entry already owns is refused.
   */
  async accept(tenant: string, index: number): Promise<{ candidate: Candidate; entry: CacheEntry }> {
    const { doc, cand } = await this.take(tenant, index);
    const entry = await this.cache.getEntry(cand.entryTenant, cand.entryId);
    if (!entry) {
      throw new KvcacheError('NOT_FOUND', `candidate ${index} belongs to entry "${cand.entryId}", which is no longer in the store; reject it with --reject ${index}`);
    }
    const pk = phrasingKeys(cand.entryTenant, cand.question);
    const current = await this.cache.store.getMany<Pointer>([pk.exact, pk.normalized ?? pk.exact]);
    for (const p of current) {
      if (p && p.id !== entry.id) {
        throw new KvcacheError('FAQ_CONFLICT', `"${cand.question}" already answers entry "${p.id}"; reject candidate ${index} or change that entry`);
      }
    }
    const updated: CacheEntry = { ...entry, alternates: [...entry.alternates, cand.question], updatedAt: this.clock.now() };
    const ptr: Pointer & { q: string } = { id: entry.id, pinned: isPinned(entry.source), q: cand.question };
    const ops: StoreOp[] = [{ op: 'set', key: entryKey(updated), value: updated }];
    for (const k of pointerKeysOf({ ...updated, alternates: [cand.question] })) if (k === pk.exact || k === pk.normalized) ops.push({ op: 'set', key: k, value: ptr });
    ops.push({ op: 'set', key: keys.review(tenant), value: doc });
    const meta = await this.cache.store.get<{ count: number }>(keys.faqMeta(cand.entryTenant));
    ops.push({ op: 'set', key: keys.faqMeta(cand.entryTenant), value: { count: meta?.count ?? 1, updatedAt: this.clock.now(), rev: randomUUID() } });
    await this.cache.store.apply(ops);
    if (this.semantic) await this.semantic.sync(cand.entryTenant);
    return { candidate: cand, entry: updated };
  }
}
