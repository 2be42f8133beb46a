/**
 * bench:guard: does the faithfulness guard (src/generate/guard.ts) stop what it must and let through what it
 * should? Built from the demo FAQ (answers written by people, with prices, times, links and addresses). For
 * each entry, the context is the entry and the two entries BM25 finds nearest to its question, as generation
 * would give it. Three kinds of answers:
 *
 * - faithful: the answer, each of its sentences, its sentences reordered or as a numbered list, small numbers written as words,
 *   light rewordings ("Yes. …", "You can" → "It is possible to");
 * - planted facts: the answer with one fact changed or added (a number off by one or doubled, a phone number,
 *   an e-mail address, a link, a price, a date, a weekday, a product code): all must be blocked;
 * - unsupported sentences: the answer plus a sentence from an entry outside the context, or an invented one
 *   without any fact in it;
 * - misattributions: a number replaced by another number of the same sentence (every value is in the
 *   context, so only the sentence-level fact binding can catch it; reported, no target).
 *
 * For each bar of sentence support it reports the shares; the README quotes the product's bar. Writes
 * bench/results/guard.json.
 */
import path from 'node:path';
import { loadEmbedder } from '../src/embed/embedder';
import { loadFaqFiles } from '../src/faq/parse';
import { contextFacts, DEFAULT_GUARD, FaithfulnessGuard, sentencesOf } from '../src/generate/guard';
import { Bm25Index } from '../src/generate/retrieve';
import { projectRoot } from '../src/paths';
import type { CacheEntry } from '../src/core/types';
import { machineInfo, parseFlags, table, writeJson } from './common';

const flags = parseFlags(process.argv.slice(2), { bars: 'value', faq: 'value' });
const BARS = (flags.get('bars') ?? '0.45,0.5,0.55,0.6,0.65,0.7,0.75').split(',').map(Number);
const FAQ = path.resolve(flags.get('faq') ?? path.join(projectRoot(), 'config', 'demo-faq.yaml'));

const SMALL = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten'];
const INVENTED = [
  'We also plant a tree for every order you place.',
  'Our founders started the company in a garage.',
  'Members of our loyalty club get a free gift every month.',
  'Gift wrapping is available on request at checkout.',
];

interface Case {
  kind: 'faithful' | 'planted' | 'unsupported' | 'misattributed' | 'borrowed' | 'wrong_entry';
  how: string;
  answer: string;
  context: string[];
  /** How the customer asked: one of the entry's alternates (its question when it has none). */
  question: string;
  /** Per context entry, its question's wordings the guard may compare the question with (the asked one left out). */
  phrasings: string[][];
}

function faithful(e: CacheEntry): Array<[string, string]> {
  const s = sentencesOf(e.answer);
  const out: Array<[string, string]> = [['verbatim', e.answer]];
  s.forEach((x, i) => out.push([`sentence ${i + 1}`, x]));
  if (s.length > 1) out.push(['reordered', [...s].reverse().join(' ')]);
  // As chat models like to write it: one numbered line per sentence.
  if (s.length > 1) out.push(['numbered list', s.map((x, i) => `${i + 1}. ${x}`).join('\n')]);
  // Counts only ("3 to 5 days"), not parts of phone numbers, times or prices.
  const words = e.answer.replace(/(?<![\d$.,:/-])\b([0-9]|10)\b(?![-.,:/]?\d|\s?(?:am|pm|a\.m|p\.m))/g, (m) => SMALL[Number(m)] ?? m);
  if (words !== e.answer) out.push(['numbers as words', words]);
  out.push(['"Yes." first', `Yes. ${e.answer}`]);
  const reworded = e.answer.replace(/\bYou can\b/g, 'It is possible to').replace(/\byou can\b/g, 'it is possible to');
  if (reworded !== e.answer) out.push(['reworded', reworded]);
  return out;
}

/**
 * Planted facts are facts the context does not state: a changed number takes the first value up from it (or
 * doubled) that appears nowhere in the context. A number changed into another one the same entry states
 * ("3-6 days" → "6-6 days") is a misattribution, counted apart (no target: the values are all in the context).
 */
function planted(e: CacheEntry, contextText: string): Array<[string, string]> {
  const a = e.answer;
  const out: Array<[string, string]> = [];
  const num = /(\d+(?:\.\d+)?)/.exec(a);
  if (num?.[1]) {
    const n = Number(num[1]);
    // "Stated" as the guard reads the context ("double" states 2).
    const stated = contextFacts(contextText);
    const fresh = (start: number, step: (x: number) => number) => {
      let v = start;
      while (stated.has(`number:${String(Number.isInteger(n) ? v : Number(v.toFixed(2)))}`)) v = step(v);
      return Number.isInteger(n) ? String(v) : v.toFixed(2);
    };
    out.push(['number + 1', a.replace(num[1], fresh(n + 1, (x) => x + 1))]);
    out.push(['number × 2', a.replace(num[1], fresh(n * 2, (x) => x * 2 + 1))]);
  }
  out.push(['phone', `${a} You can also call us at +1 (555) 014-2387.`]);
  out.push(['e-mail', `${a} Or write to claims@pineconeoutfitters.example.`]);
  out.push(['link', `${a} Details are at https://pineconeoutfitters.example/help/terms-2.`]);
  out.push(['price', `${a} A handling fee of $4.50 applies.`]);
  out.push(['date', `${a} This applies to orders placed after 2026-03-01.`]);
  out.push(['weekday', `${a} The team answers on Sundays too.`]);
  out.push(['code', `${a} Quote reference PO-48213 when you contact us.`]);
  out.push(['percent', `${a} Members save 15% on it.`]);
  return out;
}

async function main(): Promise<void> {
  const records = await loadFaqFiles([FAQ]);
  const entries: CacheEntry[] = records.map((r) => ({ id: r.id, tenant: 'bench', question: r.question, answer: r.answer, source: 'faq', alternates: r.alternates, tags: r.tags, createdAt: 0, updatedAt: 0, hitCount: 0, lastHitAt: null, expiresAt: null }));
  const bm25 = new Bm25Index(entries);
  const cases: Case[] = [];
  entries.forEach((e, i) => {
    const near = bm25.search(e.question, 3).map((r) => r.entry).filter((x) => x.id !== e.id).slice(0, 2);
    const ctxEntries = [e, ...near];
    const context = ctxEntries.map((x) => `${x.question}\n${x.answer}`);
    const question = e.alternates[i % Math.max(1, e.alternates.length)] ?? e.question;
    // The FAQ's own wordings, less the one asked (a question in the FAQ word for word is a cache hit, never generated).
    const phrasings = ctxEntries.map((x) => [x.question, ...x.alternates].filter((w) => w !== question));
    for (const [how, answer] of faithful(e)) cases.push({ kind: 'faithful', how, answer, context, question, phrasings });
    for (const [how, answer] of planted(e, context.join('\n'))) cases.push({ kind: 'planted', how, answer, context, question, phrasings });
    // A neighbour's fact on this entry's topic ("returns within 14 days", 14 being the damaged-item window).
    const own = contextFacts(`${e.question}\n${e.answer}`);
    const num = /\b(\d+(?:\.\d+)?)\b/.exec(e.answer)?.[1];
    const theirs = near.flatMap((x) => x.answer.match(/\b\d+(?:\.\d+)?\b/g) ?? []).find((n) => !own.has(`number:${Number(n)}`));
    if (num && theirs) cases.push({ kind: 'borrowed', how: "a neighbour's number", answer: e.answer.replace(num, theirs), context, question, phrasings });
    // The right words for the wrong question: a neighbour's answer, word for word.
    if (near[0]) cases.push({ kind: 'wrong_entry', how: "a neighbour's answer", answer: near[0].answer, context, question, phrasings });
    // Misattributions: the entry's first number replaced by another number the same sentence states.
    const first = sentencesOf(e.answer).find((x) => (x.match(/\d+/g) ?? []).length >= 2);
    const nums = first?.match(/\d+/g) ?? [];
    if (first && nums[0] !== undefined && nums[1] !== undefined && nums[0] !== nums[1]) {
      cases.push({ kind: 'misattributed', how: 'number swapped within its sentence', answer: e.answer.replace(first, first.replace(nums[0], nums[1])), context, question, phrasings });
    }
    // A sentence from an entry outside the context (a few entries away, so not a neighbour), and invented ones.
    const far = entries.filter((x) => !ctxEntries.some((c) => c.id === x.id));
    const other = far[(i * 7) % far.length];
    const foreign = other ? sentencesOf(other.answer).find((s) => !/\d/.test(s)) : undefined;
    if (foreign) cases.push({ kind: 'unsupported', how: 'sentence of another entry', answer: `${e.answer} ${foreign}`, context, question, phrasings });
    cases.push({ kind: 'unsupported', how: 'invented sentence', answer: `${e.answer} ${INVENTED[i % INVENTED.length]}`, context, question, phrasings });
  });
  const embedder = await loadEmbedder({ model: 'all-MiniLM-L6-v2' });
  const rows: string[][] = [];
  const results = [];
  const KINDS = ['faithful', 'planted', 'unsupported', 'misattributed', 'borrowed', 'wrong_entry'] as const;
  const run = async (minSupport: number, minRelevance: number) => {
    const guard = new FaithfulnessGuard({ ...DEFAULT_GUARD, minSupport, minRelevance, embedder });
    const tally = Object.fromEntries(KINDS.map((k) => [k, [0, 0]])) as Record<Case['kind'], [number, number]>;
    const missedPlanted: string[] = [];
    const blockedFaithful: string[] = [];
    for (const c of cases) {
      const v = await guard.check(c.answer, c.context, await guard.relevance(c.question, c.context, c.phrasings));
      const t = tally[c.kind];
      t[1] += 1;
      if (c.kind === 'faithful' ? v.ok : !v.ok) t[0] += 1;
      else if (c.kind === 'planted') missedPlanted.push(`${c.how}: ${c.answer.slice(0, 200)}`);
      else if (c.kind === 'faithful') blockedFaithful.push(`${c.how} (${v.reason}: ${v.detail ?? ''}): ${c.answer.slice(0, 160)}`);
    }
    const share = (k: Case['kind']) => tally[k][0] / Math.max(1, tally[k][1]);
    const cell = (k: Case['kind']) => `${(100 * share(k)).toFixed(1)}% of ${tally[k][1]}`;
    return { minSupport, minRelevance, faithfulPassed: share('faithful'), plantedBlocked: share('planted'), unsupportedBlocked: share('unsupported'), misattributedBlocked: share('misattributed'), borrowedBlocked: share('borrowed'), wrongEntryBlocked: share('wrong_entry'), counts: tally, missedPlanted, blockedFaithful: blockedFaithful.slice(0, 20), cell };
  };
  for (const bar of BARS) {
    const r = await run(bar, DEFAULT_GUARD.minRelevance);
    const { cell, ...rest } = r;
    results.push({ bar, ...rest });
    const mark = bar === DEFAULT_GUARD.minSupport ? ' (product)' : '';
    rows.push([`${bar}${mark}`, cell('planted'), cell('faithful'), cell('unsupported'), cell('borrowed'), cell('wrong_entry'), cell('misattributed')]);
  }
  // The relevance bar: right answers to the question asked against a neighbour's answer to it.
  const relevanceRows: string[][] = [];
  const relevance = [];
  for (const minRelevance of [-1, 0, 0.2, 0.3, 0.4, 0.5]) {
    const r = await run(DEFAULT_GUARD.minSupport, minRelevance);
    relevance.push({ minRelevance, faithfulPassed: r.faithfulPassed, wrongEntryBlocked: r.wrongEntryBlocked, plantedBlocked: r.plantedBlocked });
    relevanceRows.push([`${minRelevance}${minRelevance === DEFAULT_GUARD.minRelevance ? ' (product)' : ''}`, r.cell('faithful'), r.cell('wrong_entry'), r.cell('planted')]);
  }
  await embedder.close();
  process.stdout.write(`\nFaithfulness guard on answers built from ${path.relative(process.cwd(), FAQ)} (${entries.length} entries; context = the entry + its 2 BM25 neighbours; the question is one of the entry's alternates)\n`);
  process.stdout.write(`${table(['sentence bar', '>planted facts blocked (target 100%)', '>faithful passed (target >= 95%)', '>unsupported sentences blocked', "> a neighbour's fact, blocked", "> a neighbour's answer, blocked", '>numbers swapped in their sentence, blocked'], rows)}\n`);
  process.stdout.write(`\nRelevance bar (question asked vs the supporting entry's question), at the sentence bar ${DEFAULT_GUARD.minSupport}:\n`);
  process.stdout.write(`${table(['relevance bar', '>faithful passed', "> a neighbour's answer, blocked", '>planted facts blocked'], relevanceRows)}\n`);
  const product = results.find((r) => r.bar === DEFAULT_GUARD.minSupport);
  if (product) {
    process.stdout.write(`\nAt the product's bars (sentence ${DEFAULT_GUARD.minSupport}, relevance ${DEFAULT_GUARD.minRelevance}): planted facts ${product.plantedBlocked === 1 ? 'PASS' : 'FAIL'}, faithful ${product.faithfulPassed >= 0.95 ? 'PASS' : 'FAIL'}\n`);
    if (product.blockedFaithful.length > 0) process.stdout.write(`faithful answers blocked: ${product.blockedFaithful.join('; ')}\n`);
  }
  const file = path.join(projectRoot(), 'bench', 'results', 'guard.json');
  writeJson(file, { bench: 'guard', at: new Date().toISOString(), machine: machineInfo(), faq: path.relative(projectRoot(), FAQ), cases: cases.length, results, relevance });
  process.stdout.write(`wrote ${path.relative(process.cwd(), file)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:guard: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
