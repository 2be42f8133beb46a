/**
 * The faithfulness guard: no generated answer is sent or cached unless everything it states is in the FAQ
 * entries it was given. Two checks, both on the whole answer before it leaves the process:
 *
 * 1. Facts. Every number (digits, number words, CJK numerals), amount, percentage, date, time, weekday or
 *    month, URL, e-mail address, phone number and product code in the answer must appear in the context
 *    (numbers compared by value: "1,000" = "1000" = "one thousand" is not claimed, "5.00" = "5"). One
 *    unsupported fact blocks the answer: a wrong price or phone number is the worst thing a bot can say.
 * 2. Sentences. Each sentence must be supported by a sentence of the context: its embedding's cosine with the
 *    nearest context sentence at least `minSupport` (calibrated by `npm run bench:guard` on faithful and
 *    unfaithful answers built from the demo FAQ), or, without an embedder, most of its content words found
 *    in the context.
 *
 * A blocked answer is replaced by the fallback (or the did-you-mean offer), logged with the reason and counted
 * in /kvcache stats ("generated answers blocked").
 */
import { normalizeQuestion } from '../core/normalize';
import type { Embedder } from '../embed/embedder';
import { cjkShare } from '../semantic/script';

export type BlockReason = 'unsupported_fact' | 'unsupported_sentence' | 'mixed_entries' | 'off_question' | 'empty';

export interface GuardVerdict {
  ok: boolean;
  reason?: BlockReason;
  /** The fact or sentence that failed (for the log; may be the model's words, never shown to askers). */
  detail?: string;
  /** Lowest sentence support seen (cosine, or lexical share without an embedder). */
  support?: number;
}

export interface GuardOptions {
  embedder?: Pick<Embedder, 'embed'> | null;
  /** Least cosine between an answer sentence and its nearest context sentence. */
  minSupport: number;
  /** Without an embedder: least share of a sentence's content words found in the context. */
  minLexicalSupport: number;
  /** Least cosine between the question asked and the question of the entry that supports the answer. */
  minRelevance: number;
}

/** Calibrated with bench:guard (MiniLM): 100% of planted facts blocked, see the README for the figures. */
export const DEFAULT_GUARD: Omit<GuardOptions, 'embedder'> = { minSupport: 0.6, minLexicalSupport: 0.6, minRelevance: 0.3 };

export interface Fact {
  kind: 'url' | 'email' | 'phone' | 'time' | 'date' | 'code' | 'number' | 'name';
  text: string;
  /** What must be found in the context's facts of the same comparison class. */
  key: string;
}

const URL = /\b(?:https?:\/\/|www\.)[^\s<>"'）)\]]+[^\s<>"'）)\].,;:!?。，]/giu;
const EMAIL = /[\p{L}\p{N}._%+-]+@[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)+/gu;
const PHONE = /(?<![\p{N}\p{L}])\+?\d[\d\s().-]{6,}\d(?![\p{N}\p{L}])/gu;
const TIME = /\b\d{1,2}(?::\d{2})?\s?(?:a\.?m\.?|p\.?m\.?)(?![\p{L}])|\b\d{1,2}:\d{2}\b|\d{1,2}[点時时](?:\d{1,2}分)?/giu;
const DATE = /\b\d{4}-\d{1,2}-\d{1,2}\b|\b\d{1,2}[/.]\d{1,2}[/.]\d{2,4}\b|\d{1,4}年\d{1,2}月(?:\d{1,2}[日号])?|\d{1,2}月\d{1,2}[日号]/gu;
// Product and order codes: letters and digits together (SKU-1234, AB12CD, X200), not plain words or numbers.
const CODE = /\b(?=[A-Z0-9-]*\d)(?=[A-Z0-9-]*[A-Z])[A-Z0-9]+(?:-[A-Z0-9]+)*\b/g;
const NAMES = /\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|january|february|march|april|june|july|august|september|october|november|december|weekday|weekend)s?\b|星期[一二三四五六日天]|周[一二三四五六日]/giu;
const NUMBER = /\d+(?:[.,]\d+)*/g;
const LIST_MARKER = /(^|\n)[ \t]*\d{1,2}[.)][ \t]+(?=\S)/g;
const WORDS: Record<string, number> = {
  zero: 0, one: 1, two: 2, three: 3, four: 4, five: 5, six: 6, seven: 7, eight: 8, nine: 9, ten: 10, eleven: 11, twelve: 12,
  thirteen: 13, fourteen: 14, fifteen: 15, sixteen: 16, seventeen: 17, eighteen: 18, nineteen: 19, twenty: 20, thirty: 30,
  forty: 40, fifty: 50, sixty: 60, seventy: 70, eighty: 80, ninety: 90, hundred: 100, thousand: 1000, million: 1e6, dozen: 12,
  once: 1, twice: 2, single: 1, double: 2, half: 0.5,
};
const NUMBER_WORD = new RegExp(`\\b(?:${Object.keys(WORDS).join('|')})\\b`, 'gi');
const CJK_DIGITS: Record<string, number> = { 零: 0, 〇: 0, 一: 1, 二: 2, 两: 2, 三: 3, 四: 4, 五: 5, 六: 6, 七: 7, 八: 8, 九: 9, 十: 10, 百: 100, 千: 1000, 万: 10000 };
const CJK_NUMBER = /[零〇一二两三四五六七八九十百千万]+(?=[个天日月年次元块%％小时分钟周件]|$)/gu;

/** "1,000.50" → "1000.5"; "5.00" → "5"; European "1.000" stays ambiguous, so both readings are kept. */
function numberKeys(raw: string): string[] {
  const plain = raw.replace(/,(?=\d{3}\b)/g, '');
  const out = new Set<string>();
  const n = Number(plain.replace(/,/g, '.'));
  if (Number.isFinite(n)) out.add(String(n));
  const m = Number(plain.replace(/\./g, '').replace(/,/g, '.'));
  if (raw.includes('.') && Number.isFinite(m)) out.add(String(m));
  return [...out];
}

function cjkValue(s: string): number | null {
  let total = 0;
  let current = 0;
  for (const ch of s) {
    const v = CJK_DIGITS[ch];
    if (v === undefined) return null;
    if (v >= 10) {
      total += (current || 1) * v;
      current = 0;
    } else {
      current = current * 10 + v;
    }
  }
  return total + current;
}

const lower = (s: string) => s.toLowerCase();
const compact = (s: string) => s.toLowerCase().replace(/[\s().-]/g, '');

/** The checkable facts of a text, each once. */
export function factsOf(text: string): Fact[] {
  const out: Fact[] = [];
  const seen = new Set<string>();
  let rest = text;
  const take = (re: RegExp, kind: Fact['kind'], key: (m: string) => string) => {
    rest = rest.replace(re, (m) => {
      const k = `${kind}:${key(m)}`;
      if (!seen.has(k)) {
        seen.add(k);
        out.push({ kind, text: m, key: key(m) });
      }
      return ' ';
    });
  };
  // A list's "1." or "2)" at the start of a line numbers the items; it states nothing.
  rest = rest.replace(LIST_MARKER, '$1');
  // Most specific first, each removed from the text so its digits are not checked again as numbers.
  take(URL, 'url', (m) => lower(m).replace(/^https?:\/\//, '').replace(/^www\./, '').replace(/\/$/, ''));
  take(EMAIL, 'email', lower);
  take(DATE, 'date', compact);
  take(TIME, 'time', (m) => compact(m).replace(/\./g, '').replace(/:00(?=[ap]m)/, ''));
  take(PHONE, 'phone', (m) => m.replace(/\D/g, ''));
  take(CODE, 'code', lower);
  take(NAMES, 'name', (m) => lower(m).replace(/s$/, ''));
  rest.replace(NUMBER, (m) => {
    for (const k of numberKeys(m)) {
      if (seen.has(`number:${k}`)) continue;
      seen.add(`number:${k}`);
      out.push({ kind: 'number', text: m, key: k });
      break;
    }
    return ' ';
  });
  rest.replace(NUMBER_WORD, (m) => {
    const k = String(WORDS[lower(m)]);
    if (!seen.has(`number:${k}`)) {
      seen.add(`number:${k}`);
      out.push({ kind: 'number', text: m, key: k });
    }
    return ' ';
  });
  rest.replace(CJK_NUMBER, (m) => {
    const v = cjkValue(m);
    if (v !== null && !seen.has(`number:${v}`)) {
      seen.add(`number:${v}`);
      out.push({ kind: 'number', text: m, key: String(v) });
    }
    return ' ';
  });
  return out;
}

/** Everything the context states, in the form facts are compared in. */
export function contextFacts(context: string): Set<string> {
  const keys = new Set<string>();
  for (const f of factsOf(context)) {
    keys.add(`${f.kind}:${f.key}`);
    // A number inside a context phone, date or code still counts as a number the context states.
    if (f.kind !== 'number') for (const n of f.text.match(NUMBER) ?? []) for (const k of numberKeys(n)) keys.add(`number:${k}`);
  }
  return keys;
}

/** A checker of texts against a context: the first fact of a text that the context does not state, if any. */
export function unstatedFact(context: string): (text: string) => Fact | undefined {
  const keys = contextFacts(context);
  const lowered = context.toLowerCase();
  return (text) => factsOf(text).find((f) => !(keys.has(`${f.kind}:${f.key}`) || (f.kind === 'name' && lowered.includes(f.key))));
}

const SEGMENTER = new Intl.Segmenter(undefined, { granularity: 'sentence' });
export function sentencesOf(text: string): string[] {
  // List markers first: the segmenter would make "1." a sentence of its own, supported by nothing.
  return [...SEGMENTER.segment(text.replace(LIST_MARKER, '$1'))].map((s) => s.segment.trim()).filter((s) => /[\p{L}\p{N}]/u.test(s));
}

const STOP = new Set(
  'a an and are as at be been but by can could do does for from had has have how i if in into is it its just may me more my no not of on or our out so than that the their them then there these they this to up us was we were what when where which who will with would you your yes please also any all each about after before only'.split(' '),
);
const contentWords = (s: string) => normalizeQuestion(s).split(/\s+/).filter((w) => w.length >= 3 && !STOP.has(w));

export class FaithfulnessGuard {
  constructor(private readonly o: GuardOptions) {}

  /**
   * How near each context entry's question comes to the question asked: the best cosine over its wordings
   * (question and alternates; default: the entry text's first line). null when that cannot be told (no
   * embedder, a CJK question). Computed once per answer; nearestEntry and check read it.
   */
  async relevance(question: string, context: string[], phrasings?: string[][]): Promise<number[] | null> {
    const embedder = this.o.embedder ?? null;
    if (!embedder || cjkShare(question) >= 0.3 || context.length === 0) return null;
    const wordings = context.map((c, k) => (phrasings?.[k]?.length ? phrasings[k] : [c.split('\n')[0] ?? '']));
    const [q, ...vecs] = await embedder.embed([question, ...wordings.flat()]);
    let at = 0;
    return wordings.map((ws) => Math.max(...ws.map(() => dot(q as Float32Array, vecs[at++] as Float32Array))));
  }

  /** The entry the question asks about (what an answer must come from): the nearest, if near enough. */
  nearestEntry(relevance: number[] | null): number | null {
    if (!relevance || relevance.length === 0) return null;
    const best = relevance.indexOf(Math.max(...relevance));
    return (relevance[best] ?? 0) >= this.o.minRelevance ? best : null;
  }

  /**
   * Whether the answer may be sent, given the texts of the FAQ entries it was generated from (one string per
   * entry, its question on the first line) and, when known, their relevance to the question asked.
   *
   * One entry must support the whole answer: every sentence near enough to one of its sentences, and every
   * fact stated where that entry supports the sentence. An answer stitched from two entries (one entry's fact on
   * another's topic) is blocked, as is one that answers a question other than the one asked: the supporting
   * entry must be the nearestEntry.
   */
  async check(answer: string, context: string[], relevance?: number[] | null): Promise<GuardVerdict> {
    const text = answer.trim();
    if (text === '') return { ok: false, reason: 'empty' };
    const joined = context.join('\n');
    const anywhere = unstatedFact(joined)(text);
    if (anywhere) return { ok: false, reason: 'unsupported_fact', detail: anywhere.text };
    const sentences = sentencesOf(text);
    if (sentences.length === 0) return { ok: false, reason: 'empty' };
    const ctx: string[] = [];
    const owner: number[] = [];
    context.forEach((c, k) => {
      for (const x of sentencesOf(c)) {
        ctx.push(x);
        owner.push(k);
      }
    });
    if (ctx.length === 0) return { ok: false, reason: 'unsupported_sentence', detail: sentences[0] ?? '' };
    // How well each context sentence supports each answer sentence: cosine (English, with an embedder), share
    // of character bigrams (CJK), or share of content words (no embedder).
    const embedder = this.o.embedder ?? null;
    const latin = sentences.map((x) => cjkShare(x) < 0.3 && embedder !== null);
    let cos: Float32Array[] = [];
    let ctxVecs: Float32Array[] = [];
    if (latin.some(Boolean)) {
      const own = sentences.filter((_, i) => latin[i]);
      const vecs = await (embedder as Pick<Embedder, 'embed'>).embed([...own, ...ctx]);
      cos = vecs.slice(0, own.length);
      ctxVecs = vecs.slice(own.length);
    }
    // Per answer sentence that claims something: its support by each context sentence, and its bar.
    const claims: Array<{ sent: string; scores: number[]; bar: number; latin: boolean }> = [];
    let vi = 0;
    for (const [i, sent] of sentences.entries()) {
      const v = latin[i] ? (cos[vi++] as Float32Array) : null;
      // "Yes." and "Thanks!" claim nothing.
      if (factsOf(sent).length === 0 && contentWords(sent).length === 0 && cjkShare(sent) < 0.3) continue;
      claims.push(v ? { sent, scores: ctxVecs.map((w) => dot(v, w)), bar: this.o.minSupport, latin: true } : { sent, scores: ctx.map((c) => lexicalShare(sent, c)), bar: this.o.minLexicalSupport, latin: false });
    }
    let lowest = 1;
    for (const c of claims) {
      const best = Math.max(...c.scores);
      lowest = Math.min(lowest, best);
      // CJK and word shares are measured against the whole context too: an answer sentence may join two.
      const whole = c.latin ? best : Math.max(best, lexicalShare(c.sent, joined));
      if (whole < c.bar) return { ok: false, reason: 'unsupported_sentence', detail: c.sent, support: whole };
    }
    // The first way an entry fails to support every claim on its own, or null when it does.
    const failure = (k: number): { sent: string; fact?: string } | null => {
      for (const c of claims) {
        const order = c.scores.map((x, j) => [x, j] as const).filter(([, j]) => owner[j] === k).sort((p, q) => q[0] - p[0]);
        const best = order[0]?.[0] ?? 0;
        const whole = c.latin ? best : Math.max(best, lexicalShare(c.sent, context[k] ?? ''));
        if (whole < c.bar) return { sent: c.sent };
        // Its facts must be stated where it is supported (the entry's nearest sentences), not just somewhere:
        // "ships within 2 days" is not supported by "express takes 2 days".
        const near = order.slice(0, SUPPORTING).map(([, j]) => ctx[j] as string).join('\n');
        const local = unstatedFact(near)(c.sent);
        if (local) return { sent: c.sent, fact: local.text };
      }
      return null;
    };
    const supporting = context.map((_, k) => k).filter((k) => failure(k) === null);
    if (supporting.length === 0) {
      // Said of the entry that best supports the first claim: the fact or sentence it lacks.
      const first = claims[0]?.scores ?? [];
      const f = failure(owner[first.indexOf(Math.max(...first))] ?? 0) ?? { sent: sentences[0] ?? '' };
      return { ok: false, reason: 'mixed_entries', detail: f.fact ?? f.sent, support: lowest };
    }
    // It must answer the question asked: the supporting entry is the one the question asks about.
    if (relevance) {
      const nearest = this.nearestEntry(relevance);
      if (nearest === null || !supporting.includes(nearest)) {
        return { ok: false, reason: 'off_question', detail: context[supporting[0] as number]?.split('\n')[0], support: relevance[supporting[0] as number] ?? 0 };
      }
    }
    return { ok: true, support: lowest };
  }
}

/** Context sentences an answer sentence's facts may come from: the ones that support it best. */
const SUPPORTING = 3;

/**
 * How much of a sentence a text states, by characters or words: the share of the sentence's character bigrams
 * (CJK) or content words found in the text.
 */
function lexicalShare(sent: string, text: string): number {
  if (cjkShare(sent) >= 0.3) {
    const own = [...bigrams(sent)];
    const g = bigrams(text);
    return own.length === 0 ? 1 : own.filter((x) => g.has(x)).length / own.length;
  }
  const words = contentWords(sent);
  const vocab = new Set(contentWords(text));
  return words.length === 0 ? 1 : words.filter((w) => vocab.has(w)).length / words.length;
}

/** Character bigrams of the letters and digits of a text (CJK support). */
function bigrams(text: string): Set<string> {
  const chars = [...text.replace(/[^\p{L}\p{N}]/gu, '')];
  const out = new Set<string>();
  for (let i = 0; i + 1 < chars.length; i++) out.add(`${chars[i]}${chars[i + 1]}`);
  return out;
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
}
