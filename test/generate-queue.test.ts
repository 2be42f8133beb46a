import { GenerationQueue } from '../src/generate/queue';
import { Bm25Index, tokenize } from '../src/generate/retrieve';
import type { CacheEntry } from '../src/core/types';

function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe('GenerationQueue', () => {
  test('concurrent identical keys share one run (single-flight)', async () => {
    const q = new GenerationQueue({ concurrency: 1, maxQueue: 10, timeoutMs: 5000 });
    let calls = 0;
    const gate = deferred<string>();
    const runs = Array.from({ length: 10 }, () => q.run('T:same', () => ((calls += 1), gate.promise)));
    gate.resolve('answer');
    const results = await Promise.all(runs);
    expect(calls).toBe(1);
    expect(results.map((r) => r.value)).toEqual(Array(10).fill('answer'));
    expect(results.filter((r) => !r.shared)).toHaveLength(1);
    expect(q.stats).toEqual({ running: 0, waiting: 0, inflight: 0 });
  });

  test('never runs more than `concurrency` at once, and refuses beyond the queue bound with BUSY', async () => {
    const q = new GenerationQueue({ concurrency: 2, maxQueue: 2, timeoutMs: 5000 });
    let active = 0;
    let peak = 0;
    const gates = Array.from({ length: 4 }, () => deferred<void>());
    const task = (i: number) => async () => {
      active += 1;
      peak = Math.max(peak, active);
      await gates[i]?.promise;
      active -= 1;
      return i;
    };
    const accepted = [0, 1, 2, 3].map((i) => q.run(`k${i}`, task(i)));
    await expect(q.run('k4', task(0))).rejects.toMatchObject({ code: 'BUSY' });
    for (const g of gates) g.resolve();
    expect((await Promise.all(accepted)).map((r) => r.value)).toEqual([0, 1, 2, 3]);
    expect(peak).toBe(2);
  });

  test('a caller past its deadline gets GENERATION_TIMEOUT while the slot stays busy until the run ends', async () => {
    const q = new GenerationQueue({ concurrency: 1, maxQueue: 5, timeoutMs: 50 });
    const gate = deferred<string>();
    await expect(q.run('slow', () => gate.promise)).rejects.toMatchObject({ code: 'GENERATION_TIMEOUT' });
    expect(q.stats.running).toBe(1);
    gate.resolve('late');
    await new Promise((r) => setImmediate(r));
    expect(q.stats.running).toBe(0);
    expect((await q.run('next', async () => 'ok')).value).toBe('ok');
  });

  test('a run past the deadline is told to stop through its signal; one whose deadline passed in the queue never starts', async () => {
    const q = new GenerationQueue({ concurrency: 1, maxQueue: 5, timeoutMs: 50 });
    let seen: AbortSignal | undefined;
    // A model that notices the signal only when it is done (an in-process decoder between tokens).
    const first = q.run('slow', (signal) => ((seen = signal), new Promise<string>((r) => setTimeout(() => r('late'), 120))));
    let queuedStarted = false;
    const queued = q.run('queued', async () => ((queuedStarted = true), 'ran'));
    await expect(first).rejects.toMatchObject({ code: 'GENERATION_TIMEOUT' });
    await expect(queued).rejects.toMatchObject({ code: 'GENERATION_TIMEOUT' });
    expect(seen?.aborted).toBe(true);
    await new Promise((r) => setTimeout(r, 120));
    expect(queuedStarted).toBe(false);
    expect(q.stats.running).toBe(0);
  });

  test('a failing run rejects every caller that shared it and frees the slot', async () => {
    const q = new GenerationQueue({ concurrency: 1, maxQueue: 5, timeoutMs: 1000 });
    const a = q.run('x', async () => {
      throw new Error('model crashed');
    });
    const b = q.run('x', async () => 'never');
    await expect(a).rejects.toThrow('model crashed');
    await expect(b).rejects.toThrow('model crashed');
    expect(q.stats).toEqual({ running: 0, waiting: 0, inflight: 0 });
  });
});

const entry = (id: string, question: string, answer: string, alternates: string[] = []): CacheEntry => ({
  id, tenant: 'T', question, answer, alternates, tags: [], source: 'faq', createdAt: 0, updatedAt: 0, hitCount: 0, lastHitAt: null, expiresAt: null,
});

describe('BM25 retrieval', () => {
  const index = new Bm25Index([
    entry('returns', 'How do I return an item?', 'Returns are accepted within 30 days with a receipt.', ['Can I send something back?']),
    entry('shipping', 'How much is shipping?', 'Shipping is free over $75.', ['What does delivery cost?']),
    entry('hours', 'When is the store open?', 'Monday to Friday, 9 to 5.'),
    entry('cn', '你们可以寄到中国吗？', '可以，7-12 个工作日送达。'),
  ]);

  test('ranks the entry that answers the question first, with its word coverage', () => {
    const [top, second] = index.search('what is the cost of delivery', 3);
    expect(top?.entry.id).toBe('shipping');
    expect(top?.coverage).toBeGreaterThan(0.3);
    expect(second === undefined || (second.score < (top?.score ?? 0))).toBe(true);
    expect(index.search('send back an item I bought', 1)[0]?.entry.id).toBe('returns');
  });

  test('a question sharing no word with the FAQ retrieves nothing; coverage is 0..1', () => {
    expect(index.search('quantum chromodynamics lecture notes', 3)).toEqual([]);
    for (const r of index.search('how do I return an item', 4)) {
      expect(r.coverage).toBeGreaterThan(0);
      expect(r.coverage).toBeLessThanOrEqual(1);
    }
  });

  test('Chinese is indexed by characters and bigrams', () => {
    expect(tokenize('寄到中国')).toEqual(['寄', '寄到', '到', '到中', '中', '中国', '国']);
    expect(index.search('能寄到中国吗', 1)[0]?.entry.id).toBe('cn');
  });
});
