/**
 * The `kvcache` CLI end to end: compiled, run as child processes on the embedded store (and memory), the way
 * ops use it. `npm test` compiles dist/ first.
 */
import fs from 'node:fs';
import path from 'node:path';
import { collect, ROOT, runCli, spawnNode, BIN } from './helpers/cli';
import { tmpDir } from './helpers/app';

const DEMO = path.join(ROOT, 'config', 'demo-faq.yaml');

function faqFile(dir: string, name: string, text: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
}

const SMALL_YAML = `- id: returns
  question: How do I return an item?
  answer: Start a return within 30 days.
  alternates: [Can I send something back?]
- id: hours
  question: When are you open?
  answer: Nine to five, Monday to Friday.
`;

describe('kvcache CLI', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  beforeEach(() => {
    dir = tmpDir();
    // The cache core's CLI: the paraphrase layer (and its embedding of every phrasing) is tested in semantic.test.ts.
    env = { KVCACHE_DATA_DIR: path.join(dir, 'data'), KVCACHE_EMBED_MODEL: 'none' };
  });

  test('preload, ask --json (hit and miss), and persistence across processes', async () => {
    const f = faqFile(dir, 'faq.yaml', SMALL_YAML);
    const pre = await runCli(['preload', f], { env });
    expect(pre.stderr).toBe('');
    expect(pre.stdout).toMatch(/preloaded team "default": 2 added, 0 changed, 0 unchanged, 0 removed/);
    expect(pre.code).toBe(0);

    const hit = await runCli(['ask', '--json', 'how do I RETURN an item'], { env });
    expect(hit.code).toBe(0);
    const r = JSON.parse(hit.stdout) as Record<string, unknown>;
    expect(Object.keys(r).sort()).toEqual(['answer', 'entryId', 'latencyMs', 'matchedQuestion', 'question', 'score', 'source']);
    expect(r).toMatchObject({ source: 'normalized', entryId: 'returns', answer: 'Start a return within 30 days.', score: null });
    expect(typeof r.latencyMs).toBe('number');

    const miss = await runCli(['ask', '--json', 'Do you sell kayaks?'], { env });
    expect(JSON.parse(miss.stdout)).toMatchObject({ source: 'fallback', entryId: null, matchedQuestion: null });

    const stats = await runCli(['stats', '--json'], { env });
    const s = JSON.parse(stats.stdout) as { lookups: number; hits: { normalized: number }; unanswered: Array<{ question: string }>; entries: { faq: number } };
    expect(s.lookups).toBe(2);
    expect(s.hits.normalized).toBe(1);
    expect(s.entries.faq).toBe(2);
    expect(s.unanswered[0]?.question).toBe('Do you sell kayaks?');

    const text = await runCli(['stats'], { env });
    expect(text.stdout).toMatch(/hit rate\s+50\.0%/);
    expect(text.stdout).toMatch(/Do you sell kayaks\?/);
  });

  test('a malformed FAQ names file and line, exits non-zero, and writes nothing', async () => {
    const good = faqFile(dir, 'good.yaml', SMALL_YAML);
    await runCli(['preload', good], { env });
    const bad = faqFile(dir, 'bad.yaml', `- id: a\n  question: Where is my order?\n  answer: ""\n- id: b\n  question: where is my ORDER\n  answer: Check tracking.\n`);
    const r = await runCli(['preload', '--prune', bad], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bad\.yaml:3: field "answer"/);
    expect(r.stderr).toMatch(/nothing was written/);
    expect(r.stdout).toBe('');
    // The earlier FAQ is intact: --prune did not run.
    const ask = await runCli(['ask', '--json', 'When are you open?'], { env });
    expect(JSON.parse(ask.stdout)).toMatchObject({ source: 'exact', entryId: 'hours' });
  });

  test('dry run lists the plan; prune removes; unknown flags and missing arguments are usage errors', async () => {
    const f = faqFile(dir, 'faq.yaml', SMALL_YAML);
    await runCli(['preload', f], { env });
    const g = faqFile(dir, 'g.yaml', SMALL_YAML.split('- id: hours')[0] ?? '');
    const dry = await runCli(['preload', '--dry-run', '--prune', g], { env });
    expect(dry.stdout).toMatch(/dry run: would preload team "default": 0 added, 0 changed, 1 unchanged, 1 removed \(nothing written\)/);
    expect(dry.stdout).toMatch(/^\s+- hours$/m);
    expect(JSON.parse((await runCli(['ask', '--json', 'When are you open?'], { env })).stdout).source).toBe('exact');
    await runCli(['preload', '--prune', g], { env });
    expect(JSON.parse((await runCli(['ask', '--json', 'When are you open?'], { env })).stdout).source).toBe('fallback');

    const unknown = await runCli(['ask', '--jsn', 'hi'], { env });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown option '--jsn'/);
    const missing = await runCli(['preload'], { env });
    expect(missing.code).toBe(2);
    const empty = await runCli(['ask', '   '], { env });
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/^kvcache: the question is empty/);
  });

  test('bad configuration names the variable', async () => {
    const r = await runCli(['stats'], { env: { ...env, KVCACHE_TTL: 'forever' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^kvcache: KVCACHE_TTL="forever" is invalid: expected a duration/);
    const s = await runCli(['stats'], { env: { ...env, KVCACHE_STORE: 'mongodb://x' } });
    expect(s.code).toBe(1);
    expect(s.stderr).toMatch(/KVCACHE_STORE/);
    expect(s.stderr.split('\n').filter(Boolean)).toHaveLength(1);
  });

  test('forget by question and by id; export round-trips through preload', async () => {
    const f = faqFile(dir, 'faq.yaml', SMALL_YAML);
    await runCli(['preload', f], { env });
    const exp = await runCli(['export', '--format', 'json'], { env });
    const rows = JSON.parse(exp.stdout) as Array<{ id: string; alternates?: string[] }>;
    expect(rows.map((x) => x.id)).toEqual(['hours', 'returns']);
    expect(rows[1]?.alternates).toEqual(['Can I send something back?']);
    for (const format of ['yaml', 'json']) {
      const e = await runCli(['export', '--format', format], { env });
      const file = faqFile(dir, `export.${format}`, e.stdout);
      const again = await runCli(['preload', file], { env });
      expect(again.stdout).toMatch(/0 added, 0 changed, 2 unchanged/);
    }
    const tsv = await runCli(['export', '--format', 'tsv'], { env });
    expect(tsv.stdout.split('\n')[0]).toBe('Question\tAnswer\tSource\tMetadata\tQnaId');

    const f1 = await runCli(['forget', 'can i send something back'], { env });
    expect(f1.stdout).toMatch(/forgot faq entry "returns"/);
    const f2 = await runCli(['forget', '--id', 'hours'], { env });
    expect(f2.code).toBe(0);
    const f3 = await runCli(['forget', '--id', 'hours'], { env });
    expect(f3.code).toBe(1);
    expect(f3.stderr).toMatch(/nothing cached for id "hours"/);
    expect(JSON.parse((await runCli(['export', '--format', 'json'], { env })).stdout)).toEqual([]);
  });

  test('teams are isolated', async () => {
    const a = faqFile(dir, 'a.yaml', `- {id: x, question: What is the return window?, answer: 30 days for team A}\n`);
    const b = faqFile(dir, 'b.yaml', `- {id: x, question: What is the return window?, answer: 90 days for team B}\n`);
    await runCli(['preload', '--team', 'TAAAA', a], { env });
    await runCli(['preload', '--team', 'TBBBB', b], { env });
    const ra = JSON.parse((await runCli(['ask', '--json', '--team', 'TAAAA', 'what is the return window'], { env })).stdout);
    const rb = JSON.parse((await runCli(['ask', '--json', '--team', 'TBBBB', 'what is the return window'], { env })).stdout);
    expect([ra.answer, rb.answer]).toEqual(['30 days for team A', '90 days for team B']);
    const bad = await runCli(['ask', '--team', 'no:colons', 'hi'], { env });
    expect(bad.stderr).toMatch(/not a valid tenant id/);
  });

  test('replay streams 20,000 questions through a pipe; --lookup-only records nothing', async () => {
    await runCli(['preload', DEMO], { env });
    const lines: string[] = [];
    for (let i = 0; i < 20_000; i++) lines.push(i % 3 === 0 ? JSON.stringify({ question: 'How long do I have to return something?' }) : i % 3 === 1 ? `unknown question ${i}` : 'WHAT ARE YOUR STORE HOURS');
    const qfile = faqFile(dir, 'q.jsonl', `${lines.join('\n')}\n{"nope": 1}\n`);
    const r = await runCli(['replay', '--json', '--lookup-only', qfile], { env });
    const out = r.stdout.trim().split('\n');
    expect(out).toHaveLength(20_000);
    expect(JSON.parse(out[19_999] ?? '{}')).toHaveProperty('source');
    expect(r.stderr).toMatch(/replayed 20000 questions/);
    expect(r.stderr).toMatch(/q\.jsonl:20001: JSON line has no string field "question"; skipped/);
    expect(r.code).toBe(1);
    const s = JSON.parse((await runCli(['stats', '--json'], { env })).stdout);
    expect(s.lookups).toBe(0);
    // Without --lookup-only, lookups are recorded; stdin works as "-".
    const viaStdin = await runCli(['replay', '-'], { env, input: 'When are you open?\nsomething else entirely\n' });
    expect(viaStdin.stdout.split('\n').filter(Boolean)).toHaveLength(2);
    expect(JSON.parse((await runCli(['stats', '--json'], { env })).stdout).lookups).toBe(2);
  }, 120_000);

  test('chat answers through the same pipeline, from piped input', async () => {
    await runCli(['preload', DEMO], { env });
    const r = await runCli(['chat'], { env, input: 'When are you open?\n/stats\n/quit\n' });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/bot> /);
    expect(r.stdout).toMatch(/lookups\s+1/);
  });

  test('kill -9 during a preload never leaves a half-loaded or half-updated FAQ', async () => {
    const big = path.join(dir, 'big.csv');
    const write = (version: number) => {
      const rows = ['id,question,answer,alternates'];
      for (let i = 0; i < 20_000; i++) rows.push(`e${i},question ${i},answer ${i} v${version},alt a ${i}|alt b ${i}|alt c ${i}`);
      fs.writeFileSync(big, `${rows.join('\n')}\n`);
    };
    /** The versions of the answers in the store: one version (or none) means nothing was half-written. */
    const versions = async () => {
      const rows = JSON.parse((await runCli(['export', '--format', 'json'], { env })).stdout) as Array<{ answer: string }>;
      return { count: rows.length, versions: [...new Set(rows.map((r) => r.answer.split(' v')[1]))] };
    };
    // Each round rewrites every answer; kill while the batch is being written (the CLI announces it on
    // stderr), at several offsets into it.
    for (const [round, delay] of [0, 100, 300, 500, 700, 900].entries()) {
      write(round);
      const child = spawnNode([BIN, 'preload', big], { env });
      const done = collect(child);
      await new Promise<void>((res) => {
        let err = '';
        child.stderr?.on('data', (d: Buffer | string) => {
          err += String(d);
          if (err.includes('keys in one batch')) res();
        });
        child.once('close', () => res());
      });
      await new Promise((res) => setTimeout(res, delay));
      child.kill('SIGKILL');
      const killed = await done;
      expect(killed.signal === 'SIGKILL' || killed.code === 0).toBe(true);
      const v = await versions();
      expect([0, 20_000]).toContain(v.count);
      expect(v.versions.length).toBeLessThanOrEqual(1);
    }
    write(99);
    const final = await runCli(['preload', big], { env });
    expect(final.code).toBe(0);
    expect(await versions()).toEqual({ count: 20_000, versions: ['99'] });
  }, 180_000);
});
