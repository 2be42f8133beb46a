/**
 * Hand-offs: what the bot cannot answer goes to the support team, once per question, and what the team answers
 * comes back to every asker and into the cache (a pinned `team` entry, with its vector, so the next asker of a
 * paraphrase is answered at once). Transport-free: Slack (src/slack/handoff.ts), the console chat and the CLI
 * all open, list, answer and dismiss through this class.
 *
 * One hand-off per normalized question per team, across replicas: the record lives at kv1:h:<tenant>:<hash>;
 * an asker joins an open one by an atomic update, and only the process that wins a one-time claim creates it.
 * Every list is bounded: open hand-offs per team, askers per hand-off, the relay queue.
 */
import { randomUUID } from 'node:crypto';
import type { AnswerCache } from '../core/cache';
import { hashText, keys } from '../core/keys';
import { exactForm, normalizeQuestion } from '../core/normalize';
import type { StatsRecorder } from '../core/stats';
import type { AnswerResult, CacheEntry, Clock } from '../core/types';
import type { App } from '../app';
import { KvcacheError } from '../errors';
import type { Logger } from '../logger';
import type { KvStore } from '../store/types';

export const MAX_OPEN_HANDOFFS = 500;
export const MAX_ASKERS = 50;
/** Answered and dismissed hand-offs are kept this long (for the list of recent ones and late edits), then expire. */
export const CLOSED_TTL_MS = 30 * 24 * 3600_000;
const CREATE_CLAIM_MS = 10_000;

export type HandoffReason = 'unanswered' | 'dismissed-suggestions' | 'requested';

/** Who asked, and where the answer must go back to. */
export interface HandoffAsker {
  via: 'slack' | 'console' | 'cli';
  user: string;
  /** Slack: the channel (or DM) and the thread to answer in, and a link to the question. */
  channel?: string;
  threadTs?: string;
  permalink?: string;
  at: number;
}

/** An FAQ entry the bot considered, and how close it was. */
export interface HandoffTried {
  entryId: string;
  question: string;
  similarity: number;
}

export interface Handoff {
  /** hash of the normalized question: the record's key within the tenant. */
  key: string;
  number: number;
  tenant: string;
  question: string;
  normalized: string;
  reason: HandoffReason;
  tried: HandoffTried[];
  askers: HandoffAsker[];
  /** Every ask, including those beyond MAX_ASKERS. */
  asked: number;
  status: 'open' | 'answered' | 'dismissed';
  openedAt: number;
  closedAt?: number;
  closedBy?: string;
  answer?: string;
  /** The team entry the answer was stored as (absent for a one-off answer). */
  entryId?: string;
  linkedTo?: string;
  /** The post in the support channel, once made; or why it could not be made. */
  post?: { channel: string; ts: string };
  postError?: string;
}

export interface OpenInput {
  question: string;
  reason: HandoffReason;
  tried: HandoffTried[];
  asker: HandoffAsker;
}

export interface AnswerInput {
  answer: string;
  by: string;
  /** `team` (default): a pinned team entry answers this question from now on; `once`: only these askers. */
  learn?: 'team' | 'once';
  /** Answer with this FAQ entry instead: the question becomes another wording of it. */
  linkTo?: string;
}

export interface HandoffsDeps {
  store: KvStore;
  cache: AnswerCache;
  stats: StatsRecorder;
  clock: Clock;
  logger: Logger;
  /** Embeds a tenant's new entries now (the paraphrase layer's sync), so paraphrases hit the team's answer at once. */
  learn?: (tenant: string) => Promise<void>;
}

const sameAsker = (a: HandoffAsker, b: HandoffAsker) => a.via === b.via && a.user === b.user && a.channel === b.channel && a.threadTs === b.threadTs;

export class Handoffs {
  private readonly token = randomUUID();

  constructor(private readonly d: HandoffsDeps) {}

  /** The hand-off key of a question: its normalized form's hash (one hand-off per meaning-preserving wording). */
  static keyOf(question: string): string {
    const q = exactForm(question);
    const n = normalizeQuestion(q);
    return hashText(n === '' ? q : n);
  }

  /**
   * Opens a hand-off for the question, or adds the asker to the open one. `created` tells whether this call
   * opened it (and so must post it to the support channel). Null when the team already has MAX_OPEN_HANDOFFS
   * open: the asker then gets the plain fallback, and the question is still in the unanswered log.
   */
  async open(tenant: string, input: OpenInput): Promise<{ handoff: Handoff; created: boolean } | null> {
    const q = exactForm(input.question);
    const key = Handoffs.keyOf(q);
    const recordKey = keys.handoff(tenant, key);
    for (let attempt = 0; attempt < 50; attempt++) {
      const [joined] = await this.d.store.update<Handoff>([recordKey], (_, cur) => (cur.status === 'open' ? withAsker(cur, input.asker) : undefined));
      if (joined) {
        this.d.stats.recordHandoff(tenant, 'joined');
        return { handoff: joined, created: false };
      }
      const claim = keys.lease(`handoff:${tenant}:${key}`);
      if (await this.d.store.claim(claim, this.token, CREATE_CLAIM_MS)) {
        try {
          const current = await this.d.store.get<Handoff>(recordKey);
          if (current?.status === 'open') continue; // opened by another process just before the claim
          if ((await this.countOpen(tenant)) >= MAX_OPEN_HANDOFFS) {
            this.d.logger.warn({ tenant, limit: MAX_OPEN_HANDOFFS }, 'too many open hand-offs: this question was not handed to the team; answer or dismiss some (kvcache handoffs)');
            return null;
          }
          const number = await this.nextNumber(tenant);
          const now = this.d.clock.now();
          const h: Handoff = {
            key, number, tenant, question: q, normalized: normalizeQuestion(q), reason: input.reason, tried: input.tried.slice(0, 5),
            askers: [input.asker], asked: 1, status: 'open', openedAt: now,
          };
          await this.d.store.apply([
            { op: 'set', key: recordKey, value: h },
            { op: 'set', key: keys.handoffNumber(tenant, number), value: key },
          ]);
          this.d.stats.recordHandoff(tenant, 'opened');
          this.d.logger.info({ tenant, handoff: number, reason: input.reason }, 'handed a question to the support team');
          return { handoff: h, created: true };
        } finally {
          await this.d.store.releaseClaim(claim, this.token).catch(() => undefined);
        }
      }
      // Another process is opening it: join once it exists.
      await new Promise((r) => setTimeout(r, 20 + 10 * attempt));
    }
    throw new KvcacheError('STORE_UNAVAILABLE', 'could not open or join a hand-off: another process held its claim for too long');
  }

  /** Hand-off by number (#N, as listed) or key. */
  async get(tenant: string, ref: number | string): Promise<Handoff | null> {
    const key = typeof ref === 'number' ? await this.d.store.get<string>(keys.handoffNumber(tenant, ref)) : ref;
    if (key === undefined) return null;
    return (await this.d.store.get<Handoff>(keys.handoff(tenant, key))) ?? null;
  }

  /** The hand-off whose support-channel post is (channel, ts): a reply in that thread answers it. */
  async byPost(tenant: string, channel: string, ts: string): Promise<Handoff | null> {
    const key = await this.d.store.get<string>(keys.handoffPost(tenant, channel, ts));
    return key === undefined ? null : this.get(tenant, key);
  }

  /** Records where the hand-off was posted (or why it could not be). */
  async setPost(tenant: string, key: string, post: { channel: string; ts: string } | { error: string }): Promise<void> {
    await this.d.store.update<Handoff>([keys.handoff(tenant, key)], (_, cur) => ('error' in post ? { ...cur, postError: post.error } : { ...cur, post, postError: undefined }));
    if (!('error' in post)) await this.d.store.set(keys.handoffPost(tenant, post.channel, post.ts), key, CLOSED_TTL_MS * 2);
  }

  async list(tenant: string, status: Handoff['status'] | 'all' = 'open'): Promise<Handoff[]> {
    const out: Handoff[] = [];
    for await (const [, h] of this.d.store.scan<Handoff>(keys.handoffPrefix(tenant))) if (status === 'all' || h.status === status) out.push(h);
    return out.sort((a, b) => a.number - b.number);
  }

  async countOpen(tenant: string): Promise<number> {
    return (await this.list(tenant, 'open')).length;
  }

  /**
   * Answers an open hand-off: the team's answer is stored (a pinned team entry for the question, or, linked, the
   * FAQ entry's answer under the question's wording), the hand-off closes, and its askers are queued to be told
   * (relay()). Only one answer wins: a second one for the same hand-off is refused, saying who answered first.
   */
  async answer(tenant: string, ref: number | string, input: AnswerInput): Promise<{ handoff: Handoff; entry: CacheEntry | null }> {
    const h = await this.mustGet(tenant, ref);
    if (h.status !== 'open') throw closedError(h);
    let text = input.answer.trim();
    let linked: CacheEntry | null = null;
    if (input.linkTo !== undefined) {
      linked = await this.d.cache.getEntry(await this.d.cache.faqTenant(tenant), input.linkTo);
      if (!linked || (linked.source !== 'faq' && linked.source !== 'team')) {
        throw new KvcacheError('NOT_FOUND', `there is no FAQ entry "${input.linkTo}" for team ${tenant}; \`kvcache export\` lists the entry ids`);
      }
      text = linked.answer;
    }
    if (text === '') throw new KvcacheError('USAGE', 'the answer is empty; write the answer the askers should get');
    const now = this.d.clock.now();
    const [closed] = await this.d.store.update<Handoff>([keys.handoff(tenant, h.key)], (_, cur) =>
      cur.status === 'open' ? { ...cur, status: 'answered', closedAt: now, closedBy: input.by, answer: text, ...(linked ? { linkedTo: linked.id } : {}) } : undefined,
    );
    if (!closed) throw closedError((await this.get(tenant, h.key)) ?? h);
    let entry: CacheEntry | null = null;
    try {
      if (linked && linked.tenant !== tenant) {
        // The team answers from the default FAQ: its wording is cached for the team, not linked across tenants.
        entry = await this.d.cache.put(tenant, { question: h.question, answer: text, source: 'manual' });
      } else if ((input.learn ?? 'team') === 'team' || linked) {
        entry = await this.d.cache.putTeam(tenant, { question: h.question, answer: text, answeredBy: input.by, origin: `hand-off #${h.number}`, ...(linked ? { linkedTo: linked.id } : {}) });
        await this.d.learn?.(tenant).catch((err: unknown) => this.d.logger.warn({ tenant, err: (err as Error).message }, 'the team answer is stored but not yet embedded; paraphrases will match it after the next index build'));
      }
    } catch (err) {
      // The answer still reaches the askers; only the learning failed (e.g. the FAQ now answers the question).
      this.d.logger.warn({ tenant, handoff: h.number, err: (err as Error).message }, 'the team answer was relayed but not stored as a team entry');
    }
    const final: Handoff = { ...closed, ...(entry ? { entryId: entry.id } : {}) };
    await this.close(tenant, final);
    this.d.stats.recordHandoff(tenant, 'answered', now - h.openedAt);
    this.d.logger.info({ tenant, handoff: h.number, askers: h.askers.length, entry: entry?.id ?? null, linkedTo: linked?.id ?? null }, 'a hand-off was answered');
    return { handoff: final, entry };
  }

  /** "Not for us": closes the hand-off without an answer; its askers are told (relay()). */
  async dismiss(tenant: string, ref: number | string, by: string): Promise<Handoff> {
    const h = await this.mustGet(tenant, ref);
    const now = this.d.clock.now();
    const [closed] = await this.d.store.update<Handoff>([keys.handoff(tenant, h.key)], (_, cur) => (cur.status === 'open' ? { ...cur, status: 'dismissed', closedAt: now, closedBy: by } : undefined));
    if (!closed) throw closedError((await this.get(tenant, h.key)) ?? h);
    await this.close(tenant, closed);
    this.d.stats.recordHandoff(tenant, 'dismissed');
    return closed;
  }

  private async close(tenant: string, h: Handoff): Promise<void> {
    await this.d.store.apply([
      { op: 'set', key: keys.handoff(tenant, h.key), value: h, ttlMs: CLOSED_TTL_MS },
      { op: 'set', key: keys.handoffNumber(tenant, h.number), value: h.key, ttlMs: CLOSED_TTL_MS },
      // Told later by whoever relays (a Slack replica); expires if no transport ever does.
      { op: 'set', key: keys.handoffRelay(tenant, h.key), value: { tenant, key: h.key }, ttlMs: 7 * 24 * 3600_000 },
    ]);
  }

  /**
   * Closed hand-offs whose askers have not been told yet, across tenants, each taken by one process only: `tell`
   * gets the hand-off and reports success; on failure the hand-off stays queued for the next round.
   */
  async relay(tell: (h: Handoff) => Promise<boolean>, max = 50): Promise<number> {
    let told = 0;
    for await (const [markerKey, m] of this.d.store.scan<{ tenant: string; key: string }>(keys.handoffRelay())) {
      if (told >= max) break;
      const claim = keys.lease(`handoff-relay:${m.tenant}:${m.key}`);
      if (!(await this.d.store.claim(claim, this.token, 60_000))) continue;
      try {
        if ((await this.d.store.get(markerKey)) === undefined) continue; // told by another process meanwhile
        const h = await this.get(m.tenant, m.key);
        if (!h || h.status === 'open' || (await tell(h))) {
          await this.d.store.delete(markerKey);
          told += 1;
        }
      } finally {
        await this.d.store.releaseClaim(claim, this.token).catch(() => undefined);
      }
    }
    return told;
  }

  private async mustGet(tenant: string, ref: number | string): Promise<Handoff> {
    const h = await this.get(tenant, ref);
    if (!h) throw new KvcacheError('NOT_FOUND', `there is no hand-off ${typeof ref === 'number' ? `#${ref}` : ref} for team ${tenant}; \`kvcache handoffs\` lists the open ones`);
    return h;
  }

  /** The tenant's next hand-off number, atomically across processes. */
  private async nextNumber(tenant: string): Promise<number> {
    const k = keys.handoffCounter(tenant);
    for (let i = 0; i < 20; i++) {
      const [c] = await this.d.store.update<{ next: number }>([k], (_, cur) => ({ next: cur.next + 1 }));
      if (c) return c.next - 1;
      const init = keys.lease(`handoff-counter:${tenant}`);
      if (await this.d.store.claim(init, this.token, 5000)) {
        try {
          if ((await this.d.store.get(k)) === undefined) {
            await this.d.store.set(k, { next: 2 });
            return 1;
          }
        } finally {
          await this.d.store.releaseClaim(init, this.token).catch(() => undefined);
        }
      } else {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    throw new KvcacheError('STORE_UNAVAILABLE', 'could not number a new hand-off: the counter stayed busy');
  }
}

function withAsker(h: Handoff, a: HandoffAsker): Handoff {
  const known = h.askers.some((x) => sameAsker(x, a));
  const askers = known || h.askers.length >= MAX_ASKERS ? h.askers : [...h.askers, a];
  return { ...h, askers, asked: h.asked + 1 };
}

function closedError(h: Handoff): KvcacheError {
  const who = h.closedBy ? ` by ${h.closedBy}` : '';
  return new KvcacheError('HANDOFF_CLOSED', `hand-off #${h.number} was already ${h.status === 'answered' ? 'answered' : 'closed as not for us'}${who}`);
}

/**
 * Whether an answer should go to the team: the fallback, but not "did you mean" (the asker may still pick one,
 * or say none fits) and not the busy reply (a full model queue is not a question the team must answer).
 */
export function shouldHandOff(r: AnswerResult, busyAnswer: string): boolean {
  return r.source === 'fallback' && !(r.suggestions && r.suggestions.length > 0) && r.answer !== busyAnswer;
}

/** What the bot tried for a question, for the team: the "did you mean" entries, or the nearest one. */
export async function triedFor(app: Pick<App, 'cache'>, tenant: string, r: AnswerResult): Promise<HandoffTried[]> {
  if (r.suggestions && r.suggestions.length > 0) return r.suggestions.map((s) => ({ entryId: s.entryId, question: s.question, similarity: s.similarity }));
  if (!r.semantic) return [];
  const e = await app.cache.getEntry(await app.cache.faqTenant(tenant), r.semantic.entryId).catch(() => null);
  return e ? [{ entryId: e.id, question: e.question, similarity: r.semantic.similarity }] : [];
}

/** "talk to a person: my parcel is lost" → "my parcel is lost"; a bare request → ''; anything else → null. */
export function personRequest(text: string): string | null {
  const m = /^\s*(?:please\s+)?(?:(?:talk|speak|chat)\s+to\s+(?:an?\s+)?(?:person|human|agent|someone|support)|(?:human|agent|operator)(?:\s+please)?|转人工|人工客服|找人工)(?=$|[\s:：,，.。!！?？-]|[\u3400-\u9fff])[\s:：,，.。!！-]*/i.exec(text);
  return m ? text.slice(m[0].length).trim() : null;
}
