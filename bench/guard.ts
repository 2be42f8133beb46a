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
  kind: 'faithful' | 'planted' | 'unsupported' | 'misattributed';
  how: string;
  answer: string;
  context: string[];
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
    for (const [how, answer] of faithful(e)) cases.push({ kind: 'faithful', how, answer, context });
    for (const [how, answer] of planted(e, context.join('\n'))) cases.push({ kind: 'planted', how, answer, context });
    // Misattributions: the entry's first number replaced by another number the same sentence states.
    const first = sentencesOf(e.answer).find((x) => (x.match(/\d+/g) ?? []).length >= 2);
    const nums = first?.match(/\d+/g) ?? [];
    if (first && nums[0] !== undefined && nums[1] !== undefined && nums[0] !== nums[1]) {
      cases.push({ kind: 'misattributed', how: 'number swapped within its sentence', answer: e.answer.replace(first, first.replace(nums[0], nums[1])), context });
    }
    // A sentence from an entry outside the context (a few entries away, so not a neighbour), and invented ones.
    const far = entries.filter((x) => !ctxEntries.some((c) => c.id === x.id));
    const other = far[(i * 7) % far.length];
    const foreign = other ? sentencesOf(other.answer).find((s) => !/\d/.test(s)) : undefined;
    if (foreign) cases.push({ kind: 'unsupported', how: 'sentence of another entry', answer: `${e.answer} ${foreign}`, context });
    cases.push({ kind: 'unsupported', how: 'invented sentence', answer: `${e.answer} ${INVENTED[i % INVENTED.length]}`, context });
  });
  const embedder = await loadEmbedder({ model: 'all-MiniLM-L6-v2' });
  const rows: string[][] = [];
  const results = [];
  for (const bar of BARS) {
    const guard = new FaithfulnessGuard({ ...DEFAULT_GUARD, minSupport: bar, embedder });
    const tally = { faithful: [0, 0], planted: [0, 0], unsupported: [0, 0], misattributed: [0, 0] } as Record<Case['kind'], [number, number]>;
    const missedPlanted: string[] = [];
    const blockedFaithful: string[] = [];
    for (const c of cases) {
      const v = await guard.check(c.answer, c.context);
      const t = tally[c.kind];
      t[1] += 1;
      if (c.kind === 'faithful' ? v.ok : !v.ok) t[0] += 1;
      else if (c.kind === 'planted') missedPlanted.push(`${c.how}: ${c.answer.slice(0, 200)}`);
      else if (c.kind === 'faithful') blockedFaithful.push(`${c.how} (${v.reason}: ${v.detail ?? ''}): ${c.answer.slice(0, 160)}`);
    }
    const share = (k: Case['kind']) => tally[k][0] / Math.max(1, tally[k][1]);
    results.push({ bar, faithfulPassed: share('faithful'), plantedBlocked: share('planted'), unsupportedBlocked: share('unsupported'), misattributedBlocked: share('misattributed'), counts: tally, missedPlanted, blockedFaithful: blockedFaithful.slice(0, 20) });
    const mark = bar === DEFAULT_GUARD.minSupport ? ' (product)' : '';
    rows.push([`${bar}${mark}`, `${(100 * share('planted')).toFixed(1)}% of ${tally.planted[1]}`, `${(100 * share('faithful')).toFixed(1)}% of ${tally.faithful[1]}`, `${(100 * share('unsupported')).toFixed(1)}% of ${tally.unsupported[1]}`, `${(100 * share('misattributed')).toFixed(1)}% of ${tally.misattributed[1]}`]);
  }
  await embedder.close();
  process.stdout.write(`\nFaithfulness guard on answers built from ${path.relative(process.cwd(), FAQ)} (${entries.length} entries; context = the entry + its 2 BM25 neighbours)\n`);
  process.stdout.write(`${table(['sentence bar', '>planted facts blocked (target 100%)', '>faithful passed (target >= 95%)', '>unsupported sentences blocked', '>numbers swapped in their sentence, blocked'], rows)}\n`);
  const product = results.find((r) => r.bar === DEFAULT_GUARD.minSupport);
  if (product) {
    process.stdout.write(`\nAt the product's bar ${DEFAULT_GUARD.minSupport}: planted facts ${product.plantedBlocked === 1 ? 'PASS' : 'FAIL'}, faithful ${product.faithfulPassed >= 0.95 ? 'PASS' : 'FAIL'}\n`);
    if (product.blockedFaithful.length > 0) process.stdout.write(`faithful answers blocked: ${product.blockedFaithful.join('; ')}\n`);
  }
  const file = path.join(projectRoot(), 'bench', 'results', 'guard.json');
  writeJson(file, { bench: 'guard', at: new Date().toISOString(), machine: machineInfo(), faq: path.relative(projectRoot(), FAQ), cases: cases.length, results });
  process.stdout.write(`wrote ${path.relative(process.cwd(), file)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:guard: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
