import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadEmbedder, type LoadedEmbedder } from '../src/embed/embedder';
import { KvcacheError } from '../src/errors';

const MODEL_DIR = path.join(__dirname, '..', 'models', 'multilingual-e5-small');
const reference = JSON.parse(fs.readFileSync(path.join(MODEL_DIR, 'reference.json'), 'utf8')) as {
  dims: number;
  prefix: string;
  sentences: string[];
  token_ids: number[][];
  vectors: number[][];
};

const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] ?? 0) * (b[i] ?? 0);
  return s;
};

describe('embedder (multilingual-e5-small, q4)', () => {
  let embedder: LoadedEmbedder;
  let vectors: Float32Array[];

  beforeAll(async () => {
    // No dtype: the folder's kvcache.json says q4 (and the "query: " prefix).
    embedder = await loadEmbedder({ model: 'models/multilingual-e5-small' });
    vectors = await embedder.embed(reference.sentences);
  }, 60_000);

  afterAll(async () => {
    await embedder?.close();
  });

  it('reads kvcache.json: the query prefix and 384-dim unit vectors', () => {
    expect(embedder.name).toBe('multilingual-e5-small');
    expect(embedder.queryPrefix).toBe('query: ');
    expect(reference.prefix).toBe('query: ');
    expect(reference.dims).toBe(384);
    expect(embedder.dims).toBe(384);
    expect(vectors).toHaveLength(reference.sentences.length);
    for (const v of vectors) {
      expect(v.length).toBe(384);
      expect(Math.abs(Math.sqrt(dot(v, v)) - 1)).toBeLessThan(1e-5);
    }
  });

  it('tokenizes as the conversion script did (prefix included, cut at 512)', async () => {
    const hf = await import('@huggingface/transformers');
    hf.env.allowRemoteModels = false;
    hf.env.localModelPath = `${path.dirname(MODEL_DIR)}${path.sep}`;
    const tokenizer = await hf.AutoTokenizer.from_pretrained('multilingual-e5-small');
    reference.sentences.forEach((sentence, i) => {
      const ids = Array.from(tokenizer.encode(reference.prefix + sentence), Number).slice(0, 512);
      expect({ sentence, ids }).toEqual({ sentence, ids: reference.token_ids[i] });
    });
  });

  it('matches every vector the conversion script recorded', () => {
    let worst = 0;
    let worstCos = 1;
    reference.sentences.forEach((sentence, i) => {
      const want = reference.vectors[i] ?? [];
      const got = vectors[i] ?? new Float32Array();
      expect(got.length).toBe(want.length);
      let maxAbs = 0;
      for (let k = 0; k < want.length; k++) maxAbs = Math.max(maxAbs, Math.abs((got[k] ?? NaN) - (want[k] ?? NaN)));
      const cos = dot(got, want) / Math.sqrt(dot(got, got) * dot(want, want));
      worst = Math.max(worst, maxAbs);
      worstCos = Math.min(worstCos, cos);
      expect({ sentence, ok: maxAbs < 1e-3 && cos >= 0.9999 }).toEqual({ sentence, ok: true });
    });
    // The figure quoted in the model card.
    console.log(
      `embed-e5: over ${reference.sentences.length} sentences, max abs difference to reference.json ${worst.toExponential(2)}, min cosine ${worstCos.toFixed(7)}`,
    );
  });

  it('puts a Chinese translation closer than an unrelated question', async () => {
    const [en, zh, weather, zhWeather] = await embedder.embed([
      'How long does a refund take?',
      '退款需要多长时间？',
      'What is the weather tomorrow?',
      '明天天气怎么样？',
    ]);
    expect(dot(en!, zh!)).toBeGreaterThan(dot(en!, weather!) + 0.03);
    expect(dot(en!, zh!)).toBeGreaterThan(dot(zh!, weather!) + 0.03);
    expect(dot(weather!, zhWeather!)).toBeGreaterThan(dot(zh!, zhWeather!));
  });
});

describe('embedder settings and load errors (kvcache.json, ONNX)', () => {
  const dirs: string[] = [];
  const folder = (files: Record<string, string | Buffer>): string => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'embed-e5-'));
    dirs.push(dir);
    fs.copyFileSync(path.join(MODEL_DIR, 'config.json'), path.join(dir, 'config.json'));
    for (const [name, content] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      fs.writeFileSync(path.join(dir, name), content);
    }
    return dir;
  };
  const failure = async (dir: string): Promise<KvcacheError> => {
    const err = await loadEmbedder({ model: dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KvcacheError);
    expect((err as KvcacheError).code).toBe('MODEL_LOAD_FAILED');
    expect((err as KvcacheError).message).toMatch(/tools\/embed\/e5\/convert_e5\.py/);
    return err as KvcacheError;
  };

  afterAll(() => {
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a garbled kvcache.json names the file', async () => {
    const dir = folder({ 'kvcache.json': '{ "queryPrefix": "query: ", ' });
    expect((await failure(dir)).message).toContain(`${path.join(dir, 'kvcache.json')}: not JSON`);
  });

  it('a kvcache.json with a wrong field names the file and the field', async () => {
    const wrongDtype = folder({ 'kvcache.json': '{ "queryPrefix": "query: ", "dtype": "q3" }' });
    expect((await failure(wrongDtype)).message).toContain(`${path.join(wrongDtype, 'kvcache.json')}: dtype must be one of q8, q4`);
    const wrongPrefix = folder({ 'kvcache.json': '{ "queryPrefix": 7 }' });
    expect((await failure(wrongPrefix)).message).toContain('queryPrefix must be a string');
    const notObject = folder({ 'kvcache.json': '["query: "]' });
    expect((await failure(notObject)).message).toContain('expected an object');
  });

  it('a missing ONNX names the file kvcache.json asked for', async () => {
    const dir = folder({ 'kvcache.json': fs.readFileSync(path.join(MODEL_DIR, 'kvcache.json')) });
    expect((await failure(dir)).message).toContain(`no ${path.join(dir, 'onnx', 'model_q4.onnx')} for dtype q4`);
  });

  it('a garbled ONNX gives one clear error naming the file', async () => {
    const copy = (name: string) => fs.readFileSync(path.join(MODEL_DIR, name));
    // A small tokenizer (the real one cut to its first pieces): transformers.js loads it beside the model, and the
    // full 250,002-piece file would still be loading after the model's failure has ended the test.
    const tok = JSON.parse(copy('tokenizer.json').toString('utf8')) as { model: { vocab: unknown[] } };
    tok.model.vocab = tok.model.vocab.slice(0, 1000);
    const dir = folder({
      'kvcache.json': copy('kvcache.json'),
      'tokenizer.json': JSON.stringify(tok),
      'tokenizer_config.json': copy('tokenizer_config.json'),
      'special_tokens_map.json': copy('special_tokens_map.json'),
      'onnx/model_q4.onnx': Buffer.from('this is not an ONNX model\n'.repeat(100)),
    });
    const err = await failure(dir);
    expect(err.message).toContain(path.join(dir, 'onnx', 'model_q4.onnx'));
    expect(err.message.startsWith(`cannot load the embedding model ${path.basename(dir)}`)).toBe(true);
  }, 30_000);
});
