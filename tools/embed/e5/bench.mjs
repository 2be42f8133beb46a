// Query-embedding latency and memory, side by side: multilingual-e5-small q4 vs all-MiniLM-L6-v2 q8 (by default),
// each in its own Node process pinned to one core (taskset -c 0 where it exists, as bench/semantic.ts does), the
// processes alternating over several rounds so that a busy neighbour hurts both alike. Each process embeds the way
// src/embed/embedder.ts does: transformers.js feature extraction, the folder's kvcache.json prefix, one text per
// run, mean pooling, L2 normalization. One core really means one here: onnxruntime pins its own intra-op worker
// thread to another core (taskset alone does not hold it: measured, a thread with affinity 1 under taskset -c 0),
// so the sessions get intraOpNumThreads 1 and interOpNumThreads 1 (--threads default: what the product's embedder
// gets, onnxruntime's own choice). Each process reports its CPU time over wall time while embedding.
//
// Usage: node tools/embed/e5/bench.mjs [--rounds 3] [--queries 300] [--threads 1|default] [--models DIR:DTYPE,...]
// Queries: BANKING77 test questions (English) and ATEC questions (Chinese) from ../shared/data when present,
// else a built-in list. Prints a table and one line `JSON {...}`.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const args = process.argv.slice(2);
const flag = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : def;
};

function queries(n) {
  const data = path.join(ROOT, '..', 'shared', 'data');
  const en = [];
  const zh = [];
  const banking = path.join(data, 'banking77', 'test.csv');
  if (fs.existsSync(banking)) {
    for (const line of fs.readFileSync(banking, 'utf8').split('\n').slice(1)) {
      const m = /^"?(.*?)"?,[a-z_]+$/.exec(line.trim());
      if (m && m[1]) en.push(m[1].replace(/""/g, '"'));
    }
  }
  const atec = path.join(data, 'atec', 'atec_nlp_sim_train.csv');
  if (fs.existsSync(atec)) {
    for (const line of fs.readFileSync(atec, 'utf8').replace(/^\uFEFF/, '').split('\n')) {
      const q = line.split('\t')[1];
      if (q) zh.push(q);
    }
  }
  if (en.length === 0) en.push('How do I reset my password?', 'Where is my package?', 'Can I get a refund for my order?', 'Why was I charged twice?');
  if (zh.length === 0) zh.push('如何重置我的密码？', '我的包裹在哪里？', '退款需要多长时间？', '为什么我被扣了两次钱？');
  // a fixed spread over each list: two English questions for each Chinese one
  const pick = (list, k) => Array.from({ length: k }, (_, i) => list[(i * 37) % list.length]);
  const nZh = Math.round(n / 3);
  return [...pick(en, n - nZh).map((t) => ({ lang: 'en', t })), ...pick(zh, nZh).map((t) => ({ lang: 'zh', t }))];
}

async function child(dir, dtype, qfile, threads) {
  const rss0 = process.memoryUsage().rss;
  const t0 = performance.now();
  const hf = await import('@huggingface/transformers');
  hf.env.allowRemoteModels = false;
  hf.env.allowLocalModels = true;
  hf.env.localModelPath = `${path.dirname(dir)}${path.sep}`;
  const settingsFile = path.join(dir, 'kvcache.json');
  const prefix = fs.existsSync(settingsFile) ? (JSON.parse(fs.readFileSync(settingsFile, 'utf8')).queryPrefix ?? '') : '';
  const session_options = threads === 'default' ? {} : { intraOpNumThreads: Number(threads), interOpNumThreads: 1 };
  const extractor = await hf.pipeline('feature-extraction', path.basename(dir), { dtype, session_options });
  await extractor(`${prefix}warm up`, { pooling: 'mean', normalize: true });
  const loadMs = performance.now() - t0;
  const rssLoaded = process.memoryUsage().rss;
  const qs = JSON.parse(fs.readFileSync(qfile, 'utf8'));
  for (const q of qs.slice(0, 20)) await extractor(prefix + q.t, { pooling: 'mean', normalize: true });
  const times = [];
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  for (const q of qs) {
    const s = performance.now();
    await extractor(prefix + q.t, { pooling: 'mean', normalize: true });
    times.push(performance.now() - s);
  }
  const cpu = process.cpuUsage(cpu0);
  const cpuPerWall = (cpu.user + cpu.system) / 1000 / (performance.now() - wall0);
  const rssEnd = process.memoryUsage().rss;
  await extractor.dispose();
  process.stdout.write(`JSON ${JSON.stringify({ loadMs, rss0, rssLoaded, rssEnd, cpuPerWall, times })}\n`);
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};
const mb = (b) => Math.round(b / 1e5) / 10;

async function main() {
  if (args[0] === '--child') return child(args[1], args[2], args[3], args[4]);
  const threads = flag('threads', '1');
  const rounds = Number(flag('rounds', '3'));
  const n = Number(flag('queries', '300'));
  const models = flag('models', 'models/multilingual-e5-small:q4,models/all-MiniLM-L6-v2:q8')
    .split(',')
    .map((s) => {
      const i = s.lastIndexOf(':');
      return { dir: path.resolve(ROOT, s.slice(0, i)), dtype: s.slice(i + 1) };
    });
  const qs = queries(n);
  const qfile = path.join(fs.mkdtempSync(path.join((await import('node:os')).tmpdir(), 'e5-bench-')), 'q.json');
  fs.writeFileSync(qfile, JSON.stringify(qs));
  const hasTaskset = spawnSync('taskset', ['--version']).status === 0;
  const runs = models.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (const [i, m] of models.entries()) {
      const childArgs = [fileURLToPath(import.meta.url), '--child', m.dir, m.dtype, qfile, threads];
      const res = spawnSync(hasTaskset ? 'taskset' : process.execPath, hasTaskset ? ['-c', '0', process.execPath, ...childArgs] : childArgs, {
        cwd: ROOT,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
        maxBuffer: 64 << 20,
      });
      if (res.status !== 0) throw new Error(`${m.dir} ${m.dtype}: child exited ${res.status}`);
      const line = res.stdout.split('\n').find((l) => l.startsWith('JSON '));
      runs[i].push(JSON.parse(line.slice(5)));
    }
  }
  const results = models.map((m, i) => {
    const all = runs[i].flatMap((r) => r.times);
    const by = (lang) => runs[i].flatMap((r) => r.times.filter((_, k) => qs[k].lang === lang));
    const stat = (xs) => ({ median: +pct(xs, 50).toFixed(2), p99: +pct(xs, 99).toFixed(2), mean: +(xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(2) });
    return {
      model: path.relative(ROOT, m.dir),
      dtype: m.dtype,
      queries: all.length,
      ms: stat(all),
      msEnglish: stat(by('en')),
      msChinese: stat(by('zh')),
      loadMsMedian: +pct(runs[i].map((r) => r.loadMs), 50).toFixed(0),
      rssBeforeLoadMB: mb(pct(runs[i].map((r) => r.rss0), 50)),
      rssAfterLoadMB: mb(pct(runs[i].map((r) => r.rssLoaded), 50)),
      rssAfterQueriesMB: mb(pct(runs[i].map((r) => r.rssEnd), 50)),
      cpuPerWall: +pct(runs[i].map((r) => r.cpuPerWall), 50).toFixed(2),
    };
  });
  const rows = [['model', 'dtype', 'queries', 'median ms', 'p99 ms', 'en median', 'zh median', 'load ms', 'RSS after load MB', 'RSS after queries MB', 'CPU/wall']];
  for (const r of results) {
    rows.push([r.model, r.dtype, r.queries, r.ms.median, r.ms.p99, r.msEnglish.median, r.msChinese.median, r.loadMsMedian, r.rssAfterLoadMB, r.rssAfterQueriesMB, r.cpuPerWall].map(String));
  }
  const w = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  for (const r of rows) process.stdout.write(`${r.map((x, c) => String(x).padEnd(w[c])).join('  ')}\n`);
  process.stdout.write(
    `\n${rounds} rounds x ${qs.length} queries (${qs.filter((q) => q.lang === 'en').length} English, ${qs.filter((q) => q.lang === 'zh').length} Chinese) per model, ` +
      `one process per model and round${hasTaskset ? ', pinned to core 0 (taskset -c 0)' : ' (no taskset: not pinned)'}, onnxruntime intra-op threads: ${threads}\n`,
  );
  process.stdout.write(`JSON ${JSON.stringify({ pinnedToOneCore: hasTaskset, intraOpThreads: threads, node: process.version, rounds, results })}\n`);
  fs.rmSync(path.dirname(qfile), { recursive: true, force: true });
}

await main();
