/**
 * bench:select -- --model DIR: the bundled-model candidate of issue 14 ("select, then copy"). A causal LM
 * scores each candidate FAQ entry by pmi = log P(question | entry) − log P(question) per token
 * (src/generate/select.ts) and the best entry's answer is copied when its pmi clears a bar.
 *
 * Protocol of bench:grounding (../shared/data): an FAQ of one entry per intent (question + alternates from
 * train, a made-up answer), three cases per query:
 *   present  the right entry and the two entries BM25 ranks highest among the others: pick the right one;
 *   missing  the three entries BM25 ranks highest without the right one: abstain;
 *   ood      out-of-scope queries (BANKING77-OOS ood-oos, and id-oos: banking intents the FAQ lacks), BM25's
 *            top three: abstain.
 * The bar is set on BANKING77's valid split (the lowest pmi with ≥ 95% of ood and ≥ 80% of missing queries
 * abstaining), then the test splits are read once, BANKING77 and HWU64 (a second domain, never tuned on).
 * Also: the same questions with and without the entries' kept past key values, side by side (ms per question).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { CacheEntry } from '../src/core/types';
import { loadEmbedder } from '../src/embed/embedder';
import { CausalModel } from '../src/generate/causal';
import { loadModel } from '../src/generate/model';
import { Bm25Index } from '../src/generate/retrieve';
import { EntrySelector } from '../src/generate/select';
import { projectRoot } from '../src/paths';
import { banking77, machineInfo, median, parseFlags, readPaired, shuffled, table, writeJson } from './common';

const flags = parseFlags(process.argv.slice(2), { model: 'value', data: 'value', limit: 'value', alternates: 'value', threads: 'value', 'speed-questions': 'value', shown: 'value', out: 'value', quick: 'bool' });
const MODEL = path.resolve(flags.get('model') ?? path.join(projectRoot(), 'tools', 'causal', 'build', 'smollm2-135m-instruct-q4'));
const DATA = path.resolve(flags.get('data') ?? path.join(projectRoot(), '..', 'shared', 'data'));
const LIMIT = Number(flags.get('limit') ?? (flags.has('quick') ? '40' : '200'));
const N = Number(flags.get('alternates') ?? '10');
const THREADS = Number(flags.get('threads') ?? '1');
const SHOWN = Number(flags.get('shown') ?? '9'); // alternates shown to the model per entry
const SPEED_QUESTIONS = Number(flags.get('speed-questions') ?? (flags.has('quick') ? '10' : '30'));
const TARGETS = { right: 0.8, ood: 0.95, missing: 0.8, msPerQuestion: 300, megabytes: 150 };

type Labelled = { text: string; label: string };
interface Domain {
  name: string;
  entries: CacheEntry[];
  index: Bm25Index;
}

function domainOf(name: string, train: Labelled[], answer: (intent: string) => string): Domain {
  const byIntent = new Map<string, string[]>();
  for (const { text, label } of train) byIntent.set(label, [...(byIntent.get(label) ?? []), text]);
  const entries: CacheEntry[] = [...byIntent].map(([intent, qs]) => ({
    id: intent, tenant: 'bench', question: qs[0] ?? intent, alternates: qs.slice(1, N), answer: answer(intent.replace(/_/g, ' ')),
    tags: [], source: 'faq', createdAt: 0, updatedAt: 0, hitCount: 0, lastHitAt: null, expiresAt: null,
  }));
  return { name, entries, index: new Bm25Index(entries) };
}

const lines = (file: string) => fs.readFileSync(file, 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
const sample = <T>(xs: T[], n: number, seed: number): T[] => shuffled(xs, seed).slice(0, n);

interface Outcome {
  best: number;
  /** best − second best pmi: how far the pick stands out from the other candidates. */
  lead: number;
  /** The paraphrase layer's view of the pick: MiniLM cosine of the question with its nearest phrasing. */
  cos: number;
  right: boolean | null;
}

/**
 * The rule: answer when the best pmi ≥ min, its lead over the next candidate ≥ lead, and the pick's nearest
 * phrasing has cosine ≥ cos with the question (0: the scorer alone).
 */
interface Bar {
  min: number;
  lead: number;
  cos: number;
}
const answers = (b: Bar) => (o: Outcome) => o.best >= b.min && o.lead >= b.lead && o.cos >= b.cos;

async function main(): Promise<void> {
  const oos = path.join(DATA, 'banking77-oos');
  if (!fs.existsSync(path.join(oos, 'valid.seq.in'))) throw new Error(`${oos} not found; pass --data <the shared data folder> (see ../shared/data/README.md)`);
  const inScope = new Set(readPaired(path.join(oos, 'valid.seq.in'), path.join(oos, 'valid.label')).map((r) => r.label));
  const banking = domainOf('BANKING77', banking77(DATA, 'train', inScope), (i) => `Here is how ${i} works for your account.`);
  const hwuSplit = (s: string) => readPaired(path.join(DATA, 'hwu64', s, 'seq.in'), path.join(DATA, 'hwu64', s, 'label'));
  const hwu = domainOf('HWU64', hwuSplit('train'), (i) => `Here is what I can do about ${i}.`);

  const model = await loadModel({ model: MODEL, device: 'cpu', dtype: 'auto', allowDownload: false, threads: THREADS });
  if (!(model instanceof CausalModel)) throw new Error(`${MODEL} is not a causal model`);
  // Room for both domains' entries (about 4 MB of keys and values each), so each prefix is computed once.
  const selector = new EntrySelector(model, { maxCacheBytes: 4 * 2 ** 30, alternates: SHOWN });
  const megabytes = fs.readdirSync(path.join(MODEL, 'onnx')).reduce((a, f) => a + fs.statSync(path.join(MODEL, 'onnx', f)).size, 0) / 2 ** 20;

  const embedder = await loadEmbedder({ model: 'all-MiniLM-L6-v2' });
  const vectors = new Map<string, Float32Array>();
  const vec = async (t: string) => vectors.get(t) ?? (vectors.set(t, (await embedder.embed([t]))[0]!), vectors.get(t)!);
  const dot = (a: Float32Array, b: Float32Array) => a.reduce((acc, x, i) => acc + x * b[i]!, 0);
  async function outcomeOf(d: Domain, q: string, s: Array<{ id: string; pmi: number }>, right: string | null): Promise<Outcome> {
    const pick = d.entries.find((e) => e.id === s[0]?.id);
    const qv = await vec(q);
    let cos = -1;
    for (const t of pick ? [pick.question, ...pick.alternates] : []) cos = Math.max(cos, dot(qv, await vec(t)));
    return { best: s[0]?.pmi ?? -Infinity, lead: (s[0]?.pmi ?? -Infinity) - (s[1]?.pmi ?? -Infinity), cos, right: right === null ? null : s[0]?.id === right };
  }
  const top = (d: Domain, q: string, without?: string) => d.index.search(q, 4).map((r) => r.entry).filter((e) => e.id !== without).slice(0, 3);
  async function present(d: Domain, qs: Labelled[]): Promise<Outcome[]> {
    const out: Outcome[] = [];
    for (const q of qs) {
      const right = d.entries.find((e) => e.id === q.label);
      if (!right) continue;
      const cands = [right, ...top(d, q.text, right.id).slice(0, 2)];
      out.push(await outcomeOf(d, q.text, await selector.score(q.text, cands), right.id));
    }
    return out;
  }
  async function abstaining(d: Domain, qs: Array<{ text: string; label?: string }>): Promise<Outcome[]> {
    const out: Outcome[] = [];
    for (const q of qs) {
      out.push(await outcomeOf(d, q.text, await selector.score(q.text, top(d, q.text, q.label)), null));
    }
    return out;
  }

  const bankingTest = banking77(DATA, 'test', inScope);
  const validInScope = readPaired(path.join(oos, 'valid.seq.in'), path.join(oos, 'valid.label'));
  const t0 = performance.now();
  const valid = {
    present: await present(banking, sample(validInScope, LIMIT, 1)),
    missing: await abstaining(banking, sample(validInScope, LIMIT, 2)),
    ood: await abstaining(banking, sample(lines(path.join(oos, 'ood-oos', 'valid.seq.in')).map((text) => ({ text })), LIMIT, 3)),
  };
  const scorerOnly = fitBar(valid, false);
  const bar = fitBar(valid, true);
  const test = {
    bankingPresent: await present(banking, sample(bankingTest, LIMIT, 4)),
    bankingMissing: await abstaining(banking, sample(bankingTest, LIMIT, 5)),
    bankingOod: await abstaining(banking, sample(lines(path.join(oos, 'ood-oos', 'test.seq.in')).map((text) => ({ text })), LIMIT, 6)),
    bankingIdOos: await abstaining(banking, sample(lines(path.join(oos, 'id-oos', 'test.seq.in')).map((text) => ({ text })), LIMIT, 7)),
    hwuPresent: await present(hwu, sample(hwuSplit('test'), LIMIT, 8)),
    hwuMissing: await abstaining(hwu, sample(hwuSplit('test'), LIMIT, 9)),
  };
  const scoredQuestions = Object.values(valid).concat(Object.values(test)).reduce((a, xs) => a + xs.length, 0);
  const scoringMs = performance.now() - t0;

  // Speed: the same questions with the entries' kept past key values and without, in alternating blocks.
  const speedQs = sample(bankingTest, SPEED_QUESTIONS, 10);
  const timed = { kept: [] as number[], cold: [] as number[] };
  selector.reusePrefix = true;
  for (const q of speedQs) await selector.score(q.text, [...banking.entries.filter((e) => e.id === q.label), ...top(banking, q.text, q.label).slice(0, 2)]);
  for (const round of [0, 1]) {
    for (const mode of ['kept', 'cold'] as const) {
      selector.reusePrefix = mode === 'kept';
      for (const q of speedQs.slice(round * Math.ceil(SPEED_QUESTIONS / 2), (round + 1) * Math.ceil(SPEED_QUESTIONS / 2))) {
        const right = banking.entries.find((e) => e.id === q.label);
        const cands = [...(right ? [right] : []), ...top(banking, q.text, q.label).slice(0, 2)];
        const s = performance.now();
        await selector.score(q.text, cands);
        timed[mode].push(performance.now() - s);
      }
    }
  }
  await model.close();
  await embedder.close();

  const rate = (xs: Outcome[], f: (o: Outcome) => boolean) => (xs.length ? xs.filter(f).length / xs.length : 0);
  const row = (name: string, b: Bar, p: Outcome[], m: Outcome[], ood: Outcome[] | null) => {
    const answered = answers(b);
    return {
      name,
      pick: rate(p, (o) => o.right === true),
      right: rate(p, (o) => o.right === true && answered(o)),
      wrong: rate(p, (o) => o.right === false && answered(o)),
      missingAbstain: 1 - rate(m, answered),
      oodAbstain: ood ? 1 - rate(ood, answered) : null,
    };
  };
  const rowsFor = (b: Bar, tag: string) => [
    row(`${tag}: BANKING77 valid (sets the bar)`, b, valid.present, valid.missing, valid.ood),
    row(`${tag}: BANKING77 test`, b, test.bankingPresent, test.bankingMissing, test.bankingOod),
    row(`${tag}: HWU64 test (not tuned on)`, b, test.hwuPresent, test.hwuMissing, null),
  ];
  const alone = rowsFor(scorerOnly, 'scorer');
  const rows = rowsFor(bar, 'scorer + cosine');
  const idOosAbstain = 1 - rate(test.bankingIdOos, answers(bar));
  const pct = (x: number | null) => (x === null ? '-' : `${(100 * x).toFixed(1)}%`);
  const speed = { keptMs: median(timed.kept), coldMs: median(timed.cold) };
  const bt = rows[1]!;
  const verdict = {
    right: bt.right >= TARGETS.right,
    ood: (bt.oodAbstain ?? 0) >= TARGETS.ood,
    missing: bt.missingAbstain >= TARGETS.missing,
    speed: speed.keptMs <= TARGETS.msPerQuestion,
    size: megabytes <= TARGETS.megabytes,
  };
  console.log(`bench:select — ${path.basename(MODEL)} (${megabytes.toFixed(0)} MB, ${THREADS} thread, ${SHOWN} alternates shown per entry), bars from BANKING77 valid: scorer pmi ≥ ${scorerOnly.min.toFixed(3)}, lead ≥ ${scorerOnly.lead.toFixed(3)}; with cosine pmi ≥ ${bar.min.toFixed(3)}, lead ≥ ${bar.lead.toFixed(3)}, cosine ≥ ${bar.cos.toFixed(3)}; ${LIMIT} queries per case; ${scoredQuestions} scored in ${(scoringMs / 1000).toFixed(0)} s`);
  console.log(table(['split', '>picks the right entry (no bar)', '>right, answered', '>wrong, answered', '>abstains, right entry missing', '>abstains, out of scope'], [...alone, ...rows].map((r) => [r.name, pct(r.pick), pct(r.right), pct(r.wrong), pct(r.missingAbstain), pct(r.oodAbstain)])));
  console.log(`BANKING77 id-oos test (banking intents the FAQ lacks) abstains: ${pct(idOosAbstain)}`);
  console.log(table(['3 candidates per question', '>median ms per question'], [['entries\' past key values kept', speed.keptMs.toFixed(0)], ['whole prompt per candidate', speed.coldMs.toFixed(0)]]));
  console.log(`kept prefixes: ${(speed.coldMs / speed.keptMs).toFixed(2)}× faster (same run, same questions)`);
  console.log(`targets on BANKING77 test: right ≥ 80% ${verdict.right ? 'PASS' : 'FAIL'}, ood abstain ≥ 95% ${verdict.ood ? 'PASS' : 'FAIL'}, missing abstain ≥ 80% ${verdict.missing ? 'PASS' : 'FAIL'}, ≤ 300 ms ${verdict.speed ? 'PASS' : 'FAIL'}, ≤ 150 MB ${verdict.size ? 'PASS' : 'FAIL'}`);
  writeJson(path.join(projectRoot(), 'bench', 'results', flags.get('out') ?? 'select.json'), { date: new Date().toISOString(), machine: machineInfo(), model: MODEL, megabytes, threads: THREADS, shown: SHOWN, limit: LIMIT, bar, scorerOnly, rows: [...alone, ...rows], idOosAbstain, speed, verdict, outcomes: { valid, test } });
  console.log(`wrote bench/results/${flags.get('out') ?? 'select.json'}`);
}

/**
 * On valid: for each lead on a grid, the lowest min at which both abstention targets hold; the pair that
 * answers most present questions rightly wins.
 */
function fitBar(valid: { present: Outcome[]; missing: Outcome[]; ood: Outcome[] }, withCosine: boolean): Bar {
  let best: { bar: Bar; right: number } = { bar: { min: Infinity, lead: 0, cos: 0 }, right: -1 };
  const mins = [...new Set([...valid.missing, ...valid.ood, ...valid.present].map((o) => o.best))].sort((a, b) => a - b);
  const cosines = [-1, ...(withCosine ? Array.from({ length: 25 }, (_, i) => 0.3 + 0.025 * i) : [])];
  for (const cos of cosines) {
    for (let lead = 0; lead <= 1.5; lead += 0.025) {
      const min = mins.find((m) => {
        const ok = answers({ min: m, lead, cos });
        const abstain = (xs: Outcome[]) => 1 - xs.filter(ok).length / Math.max(1, xs.length);
        return abstain(valid.ood) >= TARGETS.ood && abstain(valid.missing) >= TARGETS.missing;
      });
      if (min === undefined) continue;
      const right = valid.present.filter((o) => o.right === true && answers({ min, lead, cos })(o)).length;
      if (right > best.right) best = { bar: { min, lead, cos }, right };
    }
  }
  return best.bar;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:select: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
