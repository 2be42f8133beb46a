/**
 * 👍 / 👎 on an answer. A 👎 on a generated answer removes it from the cache, so the next asker gets a fresh
 * answer or the fallback; a 👎 on a curated answer (FAQ or manual) only logs it for review, since a person
 * wrote it and a person should change it. Every vote is counted in the statistics.
 */
import type { AnswerCache } from './cache';
import type { StatsRecorder } from './stats';
import type { CacheEntry, Clock } from './types';

export type Vote = 'up' | 'down';

export interface FeedbackInput {
  /** The tenant whose statistics count the vote (the asker's team). */
  tenant: string;
  /** The tenant that holds the entry (the asker's team, or `default` when its FAQ served the answer). */
  entryTenant: string;
  entryId: string;
  vote: Vote;
  user: string;
  /** The question as the user asked it. */
  question: string;
  /** Count and log the vote but never remove the entry (an entry of another tenant, such as the default FAQ). */
  readOnly?: boolean;
}

export interface FeedbackResult {
  entry: CacheEntry | null;
  removed: boolean;
}

export async function giveFeedback(
  deps: { cache: AnswerCache; stats: StatsRecorder; clock: Clock },
  input: FeedbackInput,
): Promise<FeedbackResult> {
  const entry = await deps.cache.getEntry(input.entryTenant, input.entryId);
  const removed = input.vote === 'down' && entry?.source === 'generated' && !input.readOnly;
  if (removed && entry) await deps.cache.remove(entry);
  deps.stats.recordFeedback(input.tenant, {
    at: deps.clock.now(),
    vote: input.vote,
    user: input.user,
    entryId: input.entryId,
    source: entry?.source ?? 'unknown',
    question: input.question,
    answer: entry?.answer ?? '',
    removed,
  });
  return { entry, removed };
}
