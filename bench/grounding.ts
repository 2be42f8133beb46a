/**
 * bench:grounding: does retrieval abstain on out-of-scope questions and keep in-scope ones? On BANKING77-OOS
 * (../shared/data): an FAQ of one entry per in-scope intent (question + 9 alternates from train, a made-up
 * answer), thresholds calibrated on the valid splits only, then one pass over the test splits for the report.
 * Compares the two abstention signals of src/generate/retrieve.ts: word coverage and raw BM25 score.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { CacheEntry } from '../src/core/types';
import { Bm25Index } from '../src/generate/retrieve';
import { projectRoot } from '../src/paths';
import { banking77, machineInfo, parseFlags, readPaired, table, writeJson } from './common';

const flags = parseFlags(process.argv.slice(2), { data: 'value', alternates: 'value', 'ood-target': 'value' });
const DATA = path.resolve(flags.get('data') ?? path.join(projectRoot(), '..', 'shared', 'data', 'banking77-oos'));
const N = Number(flags.get('alternates') ?? '10');
const TARGET = Number(flags.get('ood-target') ?? '0.97'); // abstain on ≥ this share of OOD *valid* questions
const K = 3;

function lines(file: string): string[] {
  const p = path.join(DATA, file);
  if (!fs.existsSync(p)) {
    process.stderr.write(`bench:grounding: ${p} not found; pass --data <folder of BANKING77-OOS> (see ../shared/data/README.md)\n`);
    process.exit(1);
  }
  return fs.readFileSync(p, 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
}

lines('valid.seq.in'); // fails clearly when the data is not there
// The 50 in-scope intents; their labelled train and test queries come from BANKING77 (see banking77()).
const inScope = new Set(readPaired(path.join(DATA, 'valid.seq.in'), path.join(DATA, 'valid.label')).map((r) => r.label));
const ROOT = path.dirname(DATA);
const byIntent = new Map<string, string[]>();
for (const { text, label } of banking77(ROOT, 'train', inScope)) byIntent.set(label, [...(byIntent.get(label) ?? []), text]);
const testInScope = banking77(ROOT, 'test', inScope);
const entries: CacheEntry[] = [...byIntent].map(([intent, qs]) => ({
  id: intent, tenant: 'bench', question: qs[0] ?? intent, alternates: qs.slice(1, N), answer: `Here is how ${intent.replace(/_/g, ' ')} works for your account.`,
  tags: [], source: 'faq', createdAt: 0, updatedAt: 0, hitCount: 0, lastHitAt: null, expiresAt: null,
}));
const index = new Bm25Index(entries);

interface Scored { coverage: number; score: number; top: string[] }
const score = (qs: string[]): Scored[] =>
  qs.map((q) => {
    const r = index.search(q, K);
    return { coverage: r[0]?.coverage ?? 0, score: r[0]?.score ?? 0, top: r.map((x) => x.entry.id) };
  });

const valid = { inScope: score(lines('valid.seq.in')), ood: score(lines('ood-oos/valid.seq.in')) };
const test = {
  inScope: score(testInScope.map((r) => r.text)),
  labels: testInScope.map((r) => r.label),
  ood: score(lines('ood-oos/test.seq.in')),
  idOos: score(lines('id-oos/test.seq.in')),
};

/** The lowest threshold that abstains on at least TARGET of the OOD valid questions. */
function calibrate(signal: 'coverage' | 'score'): number {
  const values = valid.ood.map((s) => s[signal]).sort((a, b) => a - b);
  const idx = Math.min(values.length - 1, Math.ceil(TARGET * values.length) - 1);
  return (values[idx] ?? 0) + 1e-9;
}

const rows: string[][] = [];
const report: Record<string, unknown> = {};
for (const signal of ['coverage', 'score'] as const) {
  const t = calibrate(signal);
  const answered = (xs: Scored[]) => xs.filter((s) => s[signal] >= t);
  const rate = (n: number, d: number) => (d === 0 ? 0 : n / d);
  const inAns = answered(test.inScope);
  const right = test.inScope.filter((s, i) => s[signal] >= t && s.top.includes(test.labels[i] ?? '')).length;
  const r = {
    threshold: t,
    oodFallback: 1 - rate(answered(test.ood).length, test.ood.length),
    idOosFallback: 1 - rate(answered(test.idOos).length, test.idOos.length),
    inScopeAnswered: rate(inAns.length, test.inScope.length),
    inScopeRightInContext: rate(right, inAns.length),
    validInScopeAnswered: rate(answered(valid.inScope).length, valid.inScope.length),
  };
  report[signal] = r;
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  rows.push([signal, t.toFixed(3), pct(r.oodFallback), pct(r.idOosFallback), pct(r.inScopeAnswered), pct(r.inScopeRightInContext), r.oodFallback >= 0.95 ? 'PASS' : 'FAIL']);
}

console.log(`bench:grounding — BANKING77-OOS, ${entries.length} FAQ entries (question + ${N - 1} alternates), top-${K} context; thresholds from valid splits (OOD valid abstention ≥ ${TARGET})`);
console.log(table(['signal', 'threshold', 'OOD test fallback', 'ID-OOS test fallback', 'in-scope answered', 'right entry in context', 'OOD ≥ 95%'], rows));
writeJson(path.join(projectRoot(), 'bench', 'results', 'grounding.json'), { date: new Date().toISOString(), machine: machineInfo(), options: { alternates: N, k: K, oodTarget: TARGET, data: DATA }, ...report });
console.log('wrote bench/results/grounding.json');
