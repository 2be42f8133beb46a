/**
 * A chat model with and without its shared prefix's key/value cache, through the product's own backends.
 * Questions are the demo FAQ's alternates (how customers ask), each with the context the generator builds
 * (BM25's three nearest entries).
 *
 * - bench:generate -- --engine URL [--engine-model NAME] [--engine-key KEY]: a real OpenAI-compatible engine
 *   (src/generate/engine.ts). Shared prefix is the product's order, the instructions every question shares
 *   first, so the engine's prefix cache (llama.cpp's cache_prompt, vLLM's automatic prefix caching) reuses
 *   them; no shared prefix puts the same words question first and instructions last, so nothing is reused.
 * - bench:generate -- --causal DIR: a causal model in process (src/generate/causal.ts), the same prompt with
 *   the system turn's kept past key values, or computed afresh for every question.
 *
 * Blocks of each condition alternate (ABAB), the first request of each block is a warm-up. It reports time to
 * first streamed text, total latency, tokens per second, the count of prompt tokens served from a cache when
 * the backend gives one, and what the faithfulness guard made of the answers: sent, blocked (by reason), abstained.
 */
import path from 'node:path';
import { loadEmbedder } from '../src/embed/embedder';
import { loadFaqFiles } from '../src/faq/parse';
import { EngineModel } from '../src/generate/engine';
import { CausalModel } from '../src/generate/causal';
import { loadModel, type ChatPrompt, type TextModel } from '../src/generate/model';
import { DEFAULT_GUARD, FaithfulnessGuard } from '../src/generate/guard';
import { ABSTAIN, buildChat, SYSTEM_PROMPT } from '../src/generate/prompt';
import { Bm25Index } from '../src/generate/retrieve';
import { answerFrom } from '../src/generate/generator';
import { projectRoot } from '../src/paths';
import type { CacheEntry } from '../src/core/types';
import { machineInfo, median, table, writeJson } from './common';

export interface ChatBenchOptions {
  questions: number;
  rounds: number;
  maxTokens: number;
}


interface Usage {
  firstTextMs: number | null;
  cachedTokens: number | null;
  promptTokens: number | null;
}

/** One backend under test: its two conditions (with the shared prefix first) and what it reports of a request. */
interface Subject {
  model: TextModel;
  title: string;
  labels: { shared: string; none: string };
  /** Readies the backend for a condition and gives the prompt it is sent. */
  prepare(condition: 'shared' | 'none', chat: ChatPrompt): ChatPrompt;
  usage(): Usage;
  result: string;
}

export async function engineSubject(url: string, model: string, key: string | null): Promise<Subject> {
  const engine = await EngineModel.connect({ url, model, key, timeoutMs: 120_000 });
  return {
    model: engine,
    title: `Engine ${model} at ${url}`,
    labels: { shared: 'instructions first (shared prefix)', none: 'question first (no shared prefix)' },
    prepare: (condition, chat) => (condition === 'shared' ? chat : { system: '', user: `${chat.user.replace(/^FAQ entries:\n(.*)\n\nCustomer question: (.*)$/s, 'Customer question: $2\n\nFAQ entries:\n$1')}\n\n${SYSTEM_PROMPT}` }),
    usage: () => engine.lastUsage,
    result: 'generate-engine.json',
  };
}

export async function causalSubject(folder: string): Promise<Subject> {
  const model = await loadModel({ model: folder, device: 'cpu', dtype: 'auto', allowDownload: false });
  if (!(model instanceof CausalModel)) throw new Error(`${folder} is not a causal model (its config.json says encoder-decoder)`);
  return {
    model,
    title: `In process, ${path.basename(folder)} (transformers.js, onnxruntime-node CPU)`,
    labels: { shared: "system turn's past key values kept", none: 'whole prompt computed per question' },
    prepare: (condition, chat) => {
      model.reusePrefix = condition === 'shared';
      return chat;
    },
    usage: () => ({ firstTextMs: model.lastRun?.firstTextMs ?? null, cachedTokens: model.lastRun?.reusedTokens ?? null, promptTokens: model.lastRun?.promptTokens ?? null }),
    result: 'generate-causal.json',
  };
}

export async function chatBench(subject: Subject, o: ChatBenchOptions): Promise<{ lines: string; json: unknown }> {
  const records = await loadFaqFiles([path.join(projectRoot(), 'config', 'demo-faq.yaml')]);
  const entries: CacheEntry[] = records.map((r) => ({ id: r.id, tenant: 'bench', question: r.question, answer: r.answer, source: 'faq', alternates: r.alternates, tags: r.tags, createdAt: 0, updatedAt: 0, hitCount: 0, lastHitAt: null, expiresAt: null }));
  const bm25 = new Bm25Index(entries);
  const asks = entries.filter((e) => e.alternates.length > 0 && !/[\u3400-\u9fff]/.test(e.question)).slice(0, o.questions).map((e) => ({ q: e.alternates[0] as string, id: e.id }));
  const model = subject.model;
  const embedder = await loadEmbedder({ model: 'all-MiniLM-L6-v2' });
  const guard = new FaithfulnessGuard({ ...DEFAULT_GUARD, embedder });
  type Row = { condition: 'shared' | 'none'; q: string; firstMs: number; totalMs: number; chars: number; cached: number | null; prompt: number | null; text: string; context: CacheEntry[] };
  const runs: Row[] = [];
  const ask = async (condition: Row['condition'], q: string) => {
    const context = bm25.search(q, 3).map((r) => r.entry);
    const chat = buildChat(q, context);
    const prompt = subject.prepare(condition, chat);
    const t0 = performance.now();
    const text = await model.generate({ flat: '', chat: prompt, maxNewTokens: o.maxTokens });
    const totalMs = performance.now() - t0;
    const usage = subject.usage();
    return { condition, q, firstMs: usage.firstTextMs ?? totalMs, totalMs, chars: text.length, cached: usage.cachedTokens, prompt: usage.promptTokens, text, context };
  };
  for (let round = 0; round < o.rounds; round++) {
    for (const condition of ['shared', 'none'] as const) {
      await ask(condition, 'warm up: where is my order?');
      for (const a of asks) runs.push(await ask(condition, a.q));
    }
  }
  const verdicts = { sent: 0, abstained: 0, copied: 0, blocked: {} as Record<string, number> };
  const examples: Array<{ q: string; answer: string; verdict: string }> = [];
  for (const r of runs.filter((x) => x.condition === 'shared').slice(0, asks.length)) {
    const answer = answerFrom(r.text, r.context);
    let verdict: string;
    if (answer === null || r.text.includes(ABSTAIN)) {
      verdicts.abstained += 1;
      verdict = 'abstained';
    } else {
      const texts = r.context.map((e) => `${e.question}\n${e.answer}`);
      const v = await guard.check(answer, texts, await guard.relevance(r.q, texts, r.context.map((e) => [e.question, ...e.alternates].filter((w) => w !== r.q))));
      if (v.ok && r.context.some((e) => e.answer === answer)) verdicts.copied += 1;
      if (v.ok) verdicts.sent += 1;
      else verdicts.blocked[v.reason ?? 'unknown'] = (verdicts.blocked[v.reason ?? 'unknown'] ?? 0) + 1;
      verdict = v.ok ? 'sent' : `blocked (${v.reason}: ${String(v.detail ?? '').slice(0, 60)})`;
    }
    examples.push({ q: r.q, answer: r.text.slice(0, 300), verdict });
  }
  await embedder.close();
  await model.close();
  const summary = (c: Row['condition']) => {
    const rs = runs.filter((r) => r.condition === c);
    const tps = rs.map((r) => (r.totalMs > r.firstMs ? r.chars / 4 / ((r.totalMs - r.firstMs) / 1000) : NaN)).filter(Number.isFinite);
    return {
      condition: c,
      requests: rs.length,
      firstMsP50: median(rs.map((r) => r.firstMs)),
      totalMsP50: median(rs.map((r) => r.totalMs)),
      tokensPerSecondP50: median(tps),
      cachedTokensP50: rs.every((r) => r.cached === null) ? null : median(rs.map((r) => r.cached ?? 0)),
      promptTokensP50: rs.every((r) => r.prompt === null) ? null : median(rs.map((r) => r.prompt ?? 0)),
    };
  };
  const s = summary('shared');
  const n = summary('none');
  const f = (x: number | null, d = 0) => (x === null || !Number.isFinite(x) ? '-' : x.toFixed(d));
  const rows = [s, n].map((x) => [subject.labels[x.condition], String(x.requests), f(x.firstMsP50), f(x.totalMsP50), f(x.tokensPerSecondP50, 1), f(x.cachedTokensP50), f(x.promptTokensP50)]);
  const blocked = Object.values(verdicts.blocked).reduce((a, b) => a + b, 0);
  const lines = [
    `\n${subject.title}: ${asks.length} questions × ${o.rounds} rounds per condition, max ${o.maxTokens} new tokens`,
    table(['condition', '>requests', '>first text p50 ms', '>total p50 ms', '>~tokens/s p50', '>cached prompt tokens p50', '>prompt tokens p50'], rows),
    `time to first text: ${(n.firstMsP50 / s.firstMsP50).toFixed(2)}× faster with the shared prefix's cache than without (same run, same questions)`,
    `guard on the ${examples.length} answers with the shared prefix: ${verdicts.sent} sent (${verdicts.copied} of them an FAQ answer word for word), ${blocked} blocked (${Object.entries(verdicts.blocked).map(([k, v]) => `${v} ${k}`).join(', ') || 'none'}), ${verdicts.abstained} abstained`,
  ].join('\n');
  const json = { bench: subject.result.replace(/\.json$/, ''), at: new Date().toISOString(), machine: machineInfo(), model: model.name, labels: subject.labels, questions: asks.length, rounds: o.rounds, shared: s, none: n, guard: verdicts, examples };
  writeJson(path.join(projectRoot(), 'bench', 'results', subject.result), json);
  return { lines: `${lines}\n`, json };
}
