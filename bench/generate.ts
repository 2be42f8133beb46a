/**
 * bench:generate: what the decoder's key/value cache buys. The same greedy decoding loop over the bundled
 * model's ONNX files, run two ways on this CPU: with past key values (the merged decoder: each step feeds one
 * token and the cache) and without (the decoder exported without past: each step recomputes the whole prefix).
 * Both must produce identical tokens; the bench checks it. Also times a cache hit against a generated answer.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { projectRoot } from '../src/paths';
import { buildPrompt } from '../src/generate/prompt';
import { machineInfo, parseFlags, table, writeJson } from './common';
import { openApp } from '../src/app';
import { loadConfig } from '../src/config';
import { loadFaqFiles } from '../src/faq/parse';
import { preload } from '../src/faq/preload';
import { causalSubject, chatBench, engineSubject } from './engine';

const flags = parseFlags(process.argv.slice(2), { model: 'value', quick: 'bool', tokens: 'value', engine: 'value', 'engine-model': 'value', 'engine-key': 'value', 'engine-questions': 'value', 'engine-rounds': 'value', 'engine-only': 'bool', 'chat-only': 'bool', causal: 'value' });
const MODEL = path.resolve(flags.get('model') ?? path.join(projectRoot(), 'models', 'kvcache-t5-faq'));
const LENGTHS = (flags.get('tokens') ?? (flags.has('quick') ? '16,64' : '16,64,128')).split(',').map(Number);
const REPEATS = flags.has('quick') ? 1 : 3;

interface T5Config { num_decoder_layers?: number; num_layers: number; num_heads: number; d_kv: number; decoder_start_token_id?: number; eos_token_id?: number }

const big = (xs: number[]) => new ort.Tensor('int64', BigInt64Array.from(xs.map(BigInt)), [1, xs.length]);

function argmaxLast(logits: ort.Tensor): number {
  const [, seq, vocab] = logits.dims as [number, number, number];
  const data = logits.data as Float32Array;
  const off = (seq - 1) * vocab;
  let best = 0;
  for (let i = 1; i < vocab; i++) if ((data[off + i] ?? -Infinity) > (data[off + best] ?? -Infinity)) best = i;
  return best;
}

async function main(): Promise<void> {
  const onnxDir = path.join(MODEL, 'onnx');
  for (const f of ['encoder_model_quantized.onnx', 'decoder_model_quantized.onnx', 'decoder_model_merged_quantized.onnx']) {
    if (!fs.existsSync(path.join(onnxDir, f))) throw new Error(`${path.join(onnxDir, f)} is missing: build the model with tools/model (see its README)`);
  }
  const cfg = JSON.parse(fs.readFileSync(path.join(MODEL, 'config.json'), 'utf8')) as T5Config;
  const layers = cfg.num_decoder_layers ?? cfg.num_layers;
  const opts: ort.InferenceSession.SessionOptions = { intraOpNumThreads: 1, interOpNumThreads: 1 };
  const encoder = await ort.InferenceSession.create(path.join(onnxDir, 'encoder_model_quantized.onnx'), opts);
  const noPast = await ort.InferenceSession.create(path.join(onnxDir, 'decoder_model_quantized.onnx'), opts);
  const merged = await ort.InferenceSession.create(path.join(onnxDir, 'decoder_model_merged_quantized.onnx'), opts);
  const hf = await import('@huggingface/transformers');
  hf.env.allowRemoteModels = false;
  hf.env.localModelPath = `${path.dirname(MODEL)}${path.sep}`;
  const tokenizer = await hf.AutoTokenizer.from_pretrained(path.basename(MODEL));

  const prompt = buildPrompt('How do I return a jacket that does not fit?', [
    { question: 'What is your return policy?', answer: 'Unused items can be returned within 30 days for a full refund to the original payment method.' },
    { question: 'How much does shipping cost?', answer: 'Shipping is free on orders over $75; otherwise it is $6.95.' },
  ]);
  const enc = tokenizer(prompt) as unknown as { input_ids: { data: BigInt64Array }; attention_mask: { data: BigInt64Array } };
  const ids = Array.from(enc.input_ids.data, Number);
  const mask = big(ids.map(() => 1));
  const hidden = (await encoder.run({ input_ids: big(ids), attention_mask: mask })).last_hidden_state as ort.Tensor;
  const start = cfg.decoder_start_token_id ?? 0;

  // Greedy without a cache: the whole prefix goes through the decoder at every step. EOS is ignored so both
  // ways decode exactly `steps` tokens and the comparison is at equal length.
  async function withoutCache(steps: number): Promise<number[]> {
    const out = [start];
    for (let s = 0; s < steps; s++) {
      const r = await noPast.run({ input_ids: big(out), encoder_attention_mask: mask, encoder_hidden_states: hidden });
      out.push(argmaxLast(r.logits as ort.Tensor));
    }
    return out.slice(1);
  }

  async function withCache(steps: number): Promise<number[]> {
    const out = [start];
    const empty = new ort.Tensor('float32', new Float32Array(0), [1, cfg.num_heads, 0, cfg.d_kv]);
    let past: Record<string, ort.Tensor> = {};
    for (let l = 0; l < layers; l++) for (const kind of ['decoder.key', 'decoder.value', 'encoder.key', 'encoder.value']) past[`past_key_values.${l}.${kind}`] = empty;
    for (let s = 0; s < steps; s++) {
      const feeds: Record<string, ort.Tensor> = {
        input_ids: big([out[out.length - 1] ?? start]),
        encoder_attention_mask: mask,
        encoder_hidden_states: hidden,
        use_cache_branch: new ort.Tensor('bool', [s > 0], [1]),
        ...past,
      };
      const r = await merged.run(feeds);
      out.push(argmaxLast(r.logits as ort.Tensor));
      const next: Record<string, ort.Tensor> = {};
      for (let l = 0; l < layers; l++) {
        for (const kind of ['decoder.key', 'decoder.value']) next[`past_key_values.${l}.${kind}`] = r[`present.${l}.${kind}`] as ort.Tensor;
        // The encoder's keys and values are computed on the first step only; later steps return them unchanged or empty.
        for (const kind of ['encoder.key', 'encoder.value']) {
          const p = r[`present.${l}.${kind}`] as ort.Tensor;
          next[`past_key_values.${l}.${kind}`] = p.size > 0 ? p : (past[`past_key_values.${l}.${kind}`] as ort.Tensor);
        }
      }
      past = next;
    }
    return out.slice(1);
  }

  const rows: string[][] = [];
  const results: Array<Record<string, unknown>> = [];
  for (const n of LENGTHS) {
    await withCache(4);
    await withoutCache(4);
    const time = async (fn: (k: number) => Promise<number[]>) => {
      let best = Infinity;
      let tokens: number[] = [];
      for (let i = 0; i < REPEATS; i++) {
        const t0 = performance.now();
        tokens = await fn(n);
        best = Math.min(best, performance.now() - t0);
      }
      return { ms: best, tokens };
    };
    const a = await time(withCache);
    const b = await time(withoutCache);
    const same = a.tokens.length === b.tokens.length && a.tokens.every((t, i) => t === b.tokens[i]);
    results.push({ newTokens: n, withCacheMs: a.ms, withoutCacheMs: b.ms, ratio: b.ms / a.ms, identical: same });
    rows.push([String(n), a.ms.toFixed(1), (a.ms / n).toFixed(2), b.ms.toFixed(1), (b.ms / n).toFixed(2), `${(b.ms / a.ms).toFixed(2)}×`, same ? 'yes' : 'NO']);
  }
  console.log(`kvcache bench:generate — ${path.basename(MODEL)} (q8, onnxruntime-node CPU, 1 thread), prompt ${ids.length} tokens; best of ${REPEATS}`);
  console.log(table(['new tokens', 'with KV ms', 'ms/token', 'without KV ms', 'ms/token', 'speed-up', 'same tokens'], rows));
  const last = results[results.length - 1] as { ratio: number; identical: boolean; newTokens: number };
  console.log(`target: ≥ 3× faster with the cache at 128 new tokens, same output: ${last.newTokens === 128 && last.ratio >= 3 && last.identical ? 'PASS' : 'FAIL'} (${last.ratio.toFixed(2)}× at ${last.newTokens})`);
  await encoder.release();
  await noPast.release();
  await merged.release();
  const hitVsGenerated = await hitVersusGenerated();
  writeJson(path.join(projectRoot(), 'bench', 'results', 'generate.json'), { date: new Date().toISOString(), machine: machineInfo(), model: MODEL, promptTokens: ids.length, results, hitVsGenerated });
  console.log('wrote bench/results/generate.json');
}

/**
 * The product's own pipeline, in one run: questions that miss every key are answered by the model (BM25
 * context, queue, model, store), then asked again and answered by the cache. Medians side by side.
 */
async function hitVersusGenerated(): Promise<Record<string, number>> {
  const config = { ...loadConfig({ KVCACHE_FAQ: '', KVCACHE_EMBED_MODEL: 'none', KVCACHE_MIN_COVERAGE: '0.3' }), store: 'memory://', statsFlushMs: 0 };
  config.generation.model = MODEL;
  const app = await openApp(config, { withModel: true });
  await preload(app.store, await loadFaqFiles([path.join(projectRoot(), 'config', 'demo-faq.yaml')]), { tenant: 'default', prune: false, dryRun: false }, app.clock);
  const questions = [
    'how many days do i have to send back my order', 'what do you charge for delivery', 'can my parcel go to canada', 'is there a warranty on tents',
    'how do i know where my package is', 'i forgot my password what now', 'can i use two discount codes', 'are gift cards refundable',
    'do you have a shop in portland', 'when does customer support answer', 'can i change the address on my order', 'how long does a refund take',
  ];
  const generated: number[] = [];
  const hits: number[] = [];
  for (const q of questions) {
    const first = await app.answerer.ask('default', q);
    if (first.source !== 'generated') continue;
    generated.push(first.latencyMs);
    for (let i = 0; i < 20; i++) {
      const again = await app.answerer.ask('default', q);
      if (again.source === 'exact') hits.push(again.latencyMs);
    }
  }
  await app.close();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
  const r = { generatedAnswers: generated.length, generatedMedianMs: median(generated), hits: hits.length, hitMedianMs: median(hits), ratio: median(generated) / median(hits) };
  console.log(`\nOne run, the product's pipeline (memory store, demo FAQ): ${r.generatedAnswers} questions answered by the model, then asked again 20 times each`);
  console.log(table(['answer', '>count', '>median ms'], [['generated (BM25 + queue + model + store)', String(r.generatedAnswers), r.generatedMedianMs.toFixed(2)], ['cache hit (exact key)', String(r.hits), r.hitMedianMs.toFixed(3)]]));
  console.log(`target: a hit ≥ 100× faster than a generated answer: ${r.ratio >= 100 ? 'PASS' : 'FAIL'} (${r.ratio.toFixed(0)}×)`);
  return r;
}

async function all(): Promise<void> {
  if (!flags.has('engine-only') && !flags.has('chat-only')) await main();
  const url = flags.get('engine');
  const causal = flags.get('causal');
  // The chat models' tables, in the same run as the decoder's (see bench/engine.ts).
  const subjects = [
    ...(causal === undefined ? [] : [() => causalSubject(path.resolve(causal))]),
    ...(url === undefined ? [] : [() => engineSubject(url.replace(/\/$/, ''), flags.get('engine-model') ?? 'smollm2-135m-instruct', flags.get('engine-key') ?? process.env.KVCACHE_ENGINE_KEY ?? null)]),
  ];
  for (const subject of subjects) {
    const r = await chatBench(await subject(), {
      questions: Number(flags.get('engine-questions') ?? (flags.has('quick') ? '4' : '12')),
      rounds: Number(flags.get('engine-rounds') ?? (flags.has('quick') ? '1' : '2')),
      maxTokens: 96,
    });
    process.stdout.write(r.lines);
  }
}

all().catch((err: unknown) => {
  process.stderr.write(`bench:generate: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
