import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadEmbedder, type Embedder } from '../src/embed/embedder';
import { KvcacheError } from '../src/errors';

const MODEL_DIR = path.join(__dirname, '..', 'models', 'all-MiniLM-L6-v2');
const reference = JSON.parse(fs.readFileSync(path.join(MODEL_DIR, 'reference.json'), 'utf8')) as {
  dims: number;
  sentences: string[];
  vectors: number[][];
};

const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] ?? 0) * (b[i] ?? 0);
  return s;
};

describe('embedder (all-MiniLM-L6-v2, q8)', () => {
  let embedder: Embedder;
  let vectors: Float32Array[];

  beforeAll(async () => {
    embedder = await loadEmbedder({ model: 'models/all-MiniLM-L6-v2', dtype: 'q8' });
    vectors = await embedder.embed(reference.sentences);
  }, 60_000);

  afterAll(async () => {
    await embedder?.close();
  });

  it('returns 384-dim unit vectors, one per text', () => {
    expect(reference.dims).toBe(384);
    expect(embedder.dims).toBe(384);
    expect(vectors).toHaveLength(reference.sentences.length);
    for (const v of vectors) {
      expect(v).toBeInstanceOf(Float32Array);
      expect(v.length).toBe(384);
      expect(Math.abs(Math.sqrt(dot(v, v)) - 1)).toBeLessThan(1e-5);
    }
  });

  it('matches every vector the conversion script recorded to 1e-3', () => {
    let worst = 0;
    reference.sentences.forEach((sentence, i) => {
      const want = reference.vectors[i] ?? [];
      const got = vectors[i] ?? new Float32Array();
      expect(got.length).toBe(want.length);
      let maxAbs = 0;
      for (let k = 0; k < want.length; k++) maxAbs = Math.max(maxAbs, Math.abs((got[k] ?? NaN) - (want[k] ?? NaN)));
      const cos = dot(got, want) / Math.sqrt(dot(got, got) * dot(want, want));
      worst = Math.max(worst, maxAbs);
      expect({ sentence, ok: maxAbs < 1e-3 && cos >= 0.9999 }).toEqual({ sentence, ok: true });
    });
    // The figure quoted in the model card.
    console.log(`embed: max abs difference to reference.json over ${reference.sentences.length} sentences: ${worst.toExponential(2)}`);
  });

  it('gives a text the same vector alone as in a batch', async () => {
    const [alone] = await embedder.embed([reference.sentences[2] ?? '']);
    expect(Array.from(alone ?? [])).toEqual(Array.from(vectors[2] ?? []));
    expect(await embedder.embed([])).toEqual([]);
  });

  it('puts a paraphrase closer than an unrelated question', async () => {
    const [reset, forgot, ship] = await embedder.embed([
      'How do I reset my password?',
      'I forgot my password, how can I change it?',
      'Do you ship to Canada?',
    ]);
    expect(dot(reset!, forgot!)).toBeGreaterThan(dot(reset!, ship!) + 0.3);
  });
});

describe('embedder load errors', () => {
  it('a missing folder gives MODEL_LOAD_FAILED with what to do', async () => {
    const err = await loadEmbedder({ model: 'models/no-such-embedder' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KvcacheError);
    expect((err as KvcacheError).code).toBe('MODEL_LOAD_FAILED');
    expect((err as KvcacheError).message).toMatch(/tools\/embed\/convert\.py/);
  });

  it('a folder without the q8 file gives MODEL_LOAD_FAILED', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'embed-'));
    fs.copyFileSync(path.join(MODEL_DIR, 'config.json'), path.join(dir, 'config.json'));
    try {
      await expect(loadEmbedder({ model: dir })).rejects.toMatchObject({ code: 'MODEL_LOAD_FAILED' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
