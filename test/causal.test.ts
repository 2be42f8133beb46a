/**
 * The in-process causal backend (src/generate/causal.ts) on a real ONNX decoder with past key values:
 * test/fixtures/models/tiny-causal, SmolLM2's tokenizer and chat template on a 2-layer random Llama
 * (tools/causal/export.py --tiny; its text is noise). Greedy tokens must equal PyTorch's (reference.json),
 * cold and on top of the kept prefix; a miss in the product goes through it and its noise is blocked.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CausalModel } from '../src/generate/causal';
import { EntrySelector } from '../src/generate/select';
import { dtypeFor, loadModel, type TextModel } from '../src/generate/model';
import { preload } from '../src/faq/preload';
import { ROOT } from './helpers/cli';
import { openTestApp, rec, testConfig, tmpDir } from './helpers/app';

const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'models', 'tiny-causal');

interface Case {
  chat: Array<{ role: 'system' | 'user'; content: string }>;
  prompt_ids: number[];
  new_ids: number[];
}
const reference = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'reference.json'), 'utf8')) as { cases: Case[] };
const reqOf = (c: Case, extra: Partial<Parameters<TextModel['generate']>[0]> = {}) => ({
  flat: '',
  chat: { system: c.chat[0]!.content, user: c.chat[1]!.content },
  maxNewTokens: c.new_ids.length,
  ...extra,
});

/** A copy of the fixture with its tokenizer_config.json changed (the ONNX file is linked, not copied). */
function variant(change: (cfg: Record<string, unknown>) => void): string {
  const dir = path.join(tmpDir(), 'causal-variant');
  fs.mkdirSync(path.join(dir, 'onnx'), { recursive: true });
  for (const f of fs.readdirSync(FIXTURE)) if (f !== 'onnx') fs.copyFileSync(path.join(FIXTURE, f), path.join(dir, f));
  fs.symlinkSync(path.join(FIXTURE, 'onnx', 'model.onnx'), path.join(dir, 'onnx', 'model.onnx'));
  const cfgPath = path.join(dir, 'tokenizer_config.json');
  const cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf8')) as Record<string, unknown>;
  change(cfg);
  fs.writeFileSync(cfgPath, JSON.stringify(cfg));
  return dir;
}

describe('the causal backend', () => {
  let model: CausalModel;
  beforeAll(async () => {
    const m = await loadModel({ model: FIXTURE, device: 'cpu', dtype: 'auto', allowDownload: false });
    expect(m.kind).toBe('causal');
    model = m as CausalModel;
  }, 60_000);
  afterAll(() => model.close());

  test('config.json decides the kind, and dtype auto takes the files the folder has', () => {
    expect(dtypeFor('auto', FIXTURE, true)).toBe('fp32');
    expect(dtypeFor('auto', path.join(ROOT, 'models', 'kvcache-t5-faq'), false)).toBe('q8');
    expect(dtypeFor('fp16', FIXTURE, true)).toBe('fp16');
    expect(dtypeFor('auto', null, true)).toBe('q8');
  });

  test('the chat template and greedy decoding give exactly PyTorch tokens, cold and on the kept prefix', async () => {
    for (const reuse of [false, true, true]) {
      model.reusePrefix = reuse;
      for (const c of reference.cases) {
        await model.generate(reqOf(c));
        const run = model.lastRun!;
        expect({ reuse, prompt: run.promptTokens, tokens: run.newTokens }).toEqual({ reuse, prompt: c.prompt_ids.length, tokens: c.new_ids });
        // With reuse the system turn's tokens come from the kept cache, never the question's own.
        const systemTurn = model.tokensOf([c.chat[0]!], false).length;
        expect(run.reusedTokens).toBe(reuse ? systemTurn : 0);
        expect(systemTurn).toBeGreaterThan(10);
        expect(systemTurn).toBeLessThan(c.prompt_ids.length);
      }
    }
  });

  test('streams the decoded text as tokens arrive; the last piece is the answer', async () => {
    model.reusePrefix = true;
    const seen: string[] = [];
    const c = reference.cases[0]!;
    const text = await model.generate(reqOf(c, { onText: (s) => seen.push(s) }));
    expect(seen.length).toBeGreaterThan(1);
    expect(seen.at(-1)?.trim()).toBe(text);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.startsWith(seen[i - 1]!)).toBe(true);
  });

  test('an aborted run stops decoding at the next token and fails', async () => {
    const c = reference.cases[0]!;
    const ctl = new AbortController();
    let pieces = 0;
    const run = model.generate({ ...reqOf(c), maxNewTokens: 200, onText: () => void (++pieces === 2 && ctl.abort(new Error('askers gave up'))), signal: ctl.signal });
    await expect(run).rejects.toThrow('askers gave up');
    expect(model.lastRun?.newTokens.length ?? 0).toBeLessThan(200);
  });

  test('a template that does not render the system turn as a token prefix runs cold, with the same tokens', async () => {
    // The system turn after the user's, as templates that fold it into a later turn do.
    const dir = variant((cfg) => {
      cfg.chat_template = "{% for m in messages|reverse %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
    });
    const m = (await loadModel({ model: dir, device: 'cpu', dtype: 'auto', allowDownload: false })) as CausalModel;
    try {
      const c = reference.cases[0]!;
      await m.generate(reqOf(c));
      const withReuse = m.lastRun!;
      expect(withReuse.reusedTokens).toBe(0);
      m.reusePrefix = false;
      await m.generate(reqOf(c));
      expect(withReuse.newTokens).toEqual(m.lastRun!.newTokens);
      expect(withReuse.promptTokens).toBe(c.prompt_ids.length);
    } finally {
      await m.close();
    }
  }, 60_000);

  test('load errors name the folder and what to do', async () => {
    const noTemplate = variant((cfg) => void delete cfg.chat_template);
    await expect(loadModel({ model: noTemplate, device: 'cpu', dtype: 'auto', allowDownload: false })).rejects.toMatchObject({
      code: 'MODEL_LOAD_FAILED',
      message: expect.stringMatching(/cannot load the model causal-variant \(cpu, fp32\): its tokenizer has no chat template/),
    });
    await expect(loadModel({ model: FIXTURE, device: 'cpu', dtype: 'q8', allowDownload: false })).rejects.toMatchObject({
      code: 'MODEL_LOAD_FAILED',
      message: expect.stringMatching(/cannot load the model tiny-causal \(cpu, q8\): .*Check the folder's onnx\/ files for this KVCACHE_DTYPE/),
    });
    await expect(loadModel({ model: 'someone/some-model', device: 'cpu', dtype: 'auto', allowDownload: false })).rejects.toMatchObject({
      code: 'MODEL_LOAD_FAILED',
      message: expect.stringMatching(/or a hub id with KVCACHE_ALLOW_DOWNLOAD=1/),
    });
  }, 60_000);
});

describe('the select-then-copy scorer (bench:select)', () => {
  test("scores on the entries' kept past key values equal the scores of whole prompts", async () => {
    const m = (await loadModel({ model: FIXTURE, device: 'cpu', dtype: 'auto', allowDownload: false })) as CausalModel;
    try {
      const entries = [
        { id: 'ship', question: 'How long does shipping take?', answer: 'Three to five days.', alternates: ['when will my parcel come'] },
        { id: 'ret', question: 'Can I return an item?', answer: 'Yes, within 30 days.' },
        { id: 'zh', question: '可以退货吗？', answer: '可以，30天内。' },
      ];
      const kept = new EntrySelector(m);
      const cold = new EntrySelector(m, { reusePrefix: false });
      const a = await kept.score('how long until my parcel arrives', entries);
      expect(kept.lastRun.forwards).toBe(8); // each prefix once, then each question: 4 + 4
      const again = await kept.score('how long until my parcel arrives', entries);
      expect(kept.lastRun.forwards).toBe(4);
      const b = await cold.score('how long until my parcel arrives', entries);
      expect(again).toEqual(a);
      expect(b.map((s) => s.id)).toEqual(a.map((s) => s.id));
      for (const s of a) expect(Math.abs(s.pmi - b.find((x) => x.id === s.id)!.pmi)).toBeLessThan(1e-3);
      // The kept run fed only the question (and the prefix's last token) per candidate.
      expect(kept.lastRun.tokensFed).toBeLessThan(cold.lastRun.tokensFed / 2);
      expect(await kept.select('how long until my parcel arrives', entries, Infinity)).toBeNull();
      expect((await kept.select('how long until my parcel arrives', entries, -Infinity))?.entry.id).toBe(a[0]!.id);
    } finally {
      await m.close();
    }
  }, 60_000);
});

describe('the causal backend in the product', () => {
  test('a miss reaches the model; its noise is blocked by the guard, counted, and never cached', async () => {
    const base = testConfig();
    const app = await openTestApp({ embedModel: 'none', generation: { ...base.generation, model: FIXTURE, dtype: 'auto', minCoverage: 0.2, maxNewTokens: 24 } }, { withModel: true });
    try {
      await preload(app.store, [rec('shipping', 'How long does shipping take?', 'Standard shipping takes 3 to 5 working days.')], { tenant: 'default', prune: false, dryRun: false }, app.clock);
      const r = await app.answerer.ask('default', 'how many working days does standard shipping take');
      expect(r.source).toBe('fallback');
      // calls counts answers generated and sent; the blocked one is counted apart, with its reason.
      const report = await app.report('default');
      expect(report.generation).toMatchObject({ calls: 0, blocked: 1 });
      const again = await app.answerer.ask('default', 'how many working days does standard shipping take');
      expect(again.source).toBe('fallback');
      expect((await app.report('default')).generation).toMatchObject({ calls: 0, blocked: 2 });
    } finally {
      await app.close();
    }
  }, 60_000);
});
