/**
 * ATEC (Chinese customer-service question pairs, ../shared/data/atec) as an FAQ benchmark.
 *
 * Positive pairs are joined into clusters (connected components); each cluster is one FAQ entry whose
 * phrasings are all its questions but one, and the one left out is asked. Clusters made of pairs fragment one
 * meaning into several (two clusters can both be "how do I repay Huabei"), so a "wrong" hit between them may be
 * right: only clusters well separated from every other kept cluster by character bigrams are kept (greedily, by
 * their FAQ phrasings alone, never by the question asked). Negative pairs whose first question is an FAQ
 * phrasing and whose second belongs to no cluster are out-of-scope probes: related wording, another meaning.
 * Clusters are split in two by a hash of their first question: one half calibrates, the other is the test.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';

export interface AtecSets {
  /** Entry id → FAQ phrasings. */
  entries: Map<string, string[]>;
  calibration: Array<{ text: string; label: string | null }>;
  test: { inScope: Array<{ text: string; label: string }>; outOfScope: string[] };
  clusters: { all: number; kept: number };
}

const bigrams = (s: string): Set<string> => {
  const t = s.replace(/[\s\p{P}]/gu, '');
  const out = new Set<string>();
  for (let i = 0; i + 1 < t.length; i++) out.add(t.slice(i, i + 2));
  return out;
};
const jaccard = (a: Set<string>, b: Set<string>): number => {
  let inter = 0;
  for (const x of a) if (b.has(x)) inter += 1;
  const union = a.size + b.size - inter;
  return union === 0 ? 0 : inter / union;
};
const half = (s: string) => (createHash('sha256').update(s).digest()[0] as number) % 2 === 0 ? 'calibration' : 'test';

export function atecSets(dataDir: string, maxSeparation = 0.15): AtecSets {
  const raw = fs.readFileSync(path.join(dataDir, 'atec', 'atec_nlp_sim_train.csv'), 'utf8').replace(/^\uFEFF/, '');
  const rows = raw.split('\n').flatMap((line) => {
    const [, q1, q2, label] = line.replace(/\uFEFF/g, '').split('\t');
    return q1 && q2 && label !== undefined ? [{ q1: q1.trim(), q2: q2.trim(), positive: label.trim() === '1' }] : [];
  });
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    if (!parent.has(x)) parent.set(x, x);
    let r = x;
    while (parent.get(r) !== r) r = parent.get(r) as string;
    parent.set(x, r);
    return r;
  };
  for (const r of rows) if (r.positive) parent.set(find(r.q1), find(r.q2));
  const clusters = new Map<string, string[]>();
  for (const q of parent.keys()) {
    const root = find(q);
    clusters.set(root, [...(clusters.get(root) ?? []), q]);
  }
  // Deterministic order: by the cluster's first question.
  const all = [...clusters.values()].map((qs) => [...qs].sort()).sort((a, b) => (a[0] as string).localeCompare(b[0] as string));
  const kept: string[][] = [];
  const keptGrams: Array<Set<string>[]> = [];
  for (const qs of all) {
    const faq = qs.slice(0, -1);
    const grams = faq.map(bigrams);
    const close = keptGrams.some((other) => other.some((g) => grams.some((h) => jaccard(g, h) > maxSeparation)));
    if (close) continue;
    kept.push(qs);
    keptGrams.push(grams);
  }
  const entries = new Map<string, string[]>();
  const owner = new Map<string, string>();
  const calibration: AtecSets['calibration'] = [];
  const test: AtecSets['test'] = { inScope: [], outOfScope: [] };
  kept.forEach((qs, i) => {
    const id = `atec-${i}`;
    entries.set(id, qs.slice(0, -1));
    for (const q of qs.slice(0, -1)) owner.set(q, id);
    const asked = qs.at(-1) as string;
    if (half(qs[0] as string) === 'calibration') calibration.push({ text: asked, label: id });
    else test.inScope.push({ text: asked, label: id });
  });
  const seen = new Set<string>();
  for (const r of rows) {
    const id = owner.get(r.q1);
    if (r.positive || id === undefined || parent.has(r.q2) || seen.has(r.q2)) continue;
    seen.add(r.q2);
    const first = (entries.get(id) as string[])[0] as string;
    if (half(first) === 'calibration') calibration.push({ text: r.q2, label: null });
    else test.outOfScope.push(r.q2);
  }
  return { entries, calibration, test, clusters: { all: all.length, kept: kept.length } };
}
