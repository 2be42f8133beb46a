/**
 * Shared bench helpers: seeded randomness, percentiles, fixed-width tables, JSON output, CLI flags and a
 * throwaway redis-server (from testkit/, shared with the tests).
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { parse as parseCsv } from 'csv-parse/sync';
import { startRedis as startTestRedis, type RedisServer } from '../testkit/redis';

export { seededRandom } from '../src/random';
import { seededRandom } from '../src/random';

/** A copy of items in a seeded random order (Fisher–Yates): the same seed, the same order, every run. */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const rand = seededRandom(seed);
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
  return a;
}

/** The median of a list (the mean of the two middle values when the count is even); NaN when empty. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? (s[(s.length - 1) / 2] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
}

/**
 * A full GC, so garbage left by a preload (hundreds of MB at 100k entries) is not collected during, and charged
 * to, the lookups measured next. `npm run` gives no way to pass --expose-gc, hence the flag at run time.
 */
export const collectGarbage: () => void = (() => {
  v8.setFlagsFromString('--expose-gc');
  const gc: unknown = vm.runInNewContext('gc');
  return typeof gc === 'function' ? (gc as () => void) : () => undefined;
})();

export interface LatencySummary {
  count: number;
  totalMs: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? Number.NaN;
}

export function summarize(samples: Float64Array, totalMs: number): LatencySummary {
  const sorted = Float64Array.from(samples).sort();
  return {
    count: samples.length,
    totalMs: round(totalMs, 3),
    perSecond: Math.round((samples.length / totalMs) * 1000),
    p50Ms: round(percentile(sorted, 50), 4),
    p99Ms: round(percentile(sorted, 99), 4),
    maxMs: round(sorted[sorted.length - 1] ?? Number.NaN, 4),
  };
}

export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');
export const fmtMs = (n: number): string => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(3));

/** Fixed-width table; columns whose header starts with '>' are right-aligned (numbers). */
export function table(headers: string[], rows: string[][]): string {
  const right = headers.map((h) => h.startsWith('>'));
  const heads = headers.map((h) => h.replace(/^>/, ''));
  const widths = heads.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (right[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(heads), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function writeJson(file: string, value: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}

export function machineInfo(): { cpuModel: string; cpus: number; node: string; platform: string; totalMemGiB: number } {
  return {
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    cpus: os.cpus().length,
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    totalMemGiB: round(os.totalmem() / 2 ** 30, 1),
  };
}

/** `--flag`, `--flag value` and `--flag=value`; anything else is an error so typos do not run a full bench. */
export function parseFlags(argv: string[], known: Record<string, 'bool' | 'value'>): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    const name = m?.[1];
    if (!m || name === undefined || !(name in known)) throw new Error(`unknown argument ${arg}; known: ${Object.keys(known).map((k) => `--${k}`).join(' ')}`);
    if (known[name] === 'bool') {
      out.set(name, 'true');
      continue;
    }
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new Error(`--${name} needs a value`);
    out.set(name, value);
  }
  return out;
}

/**
 * BANKING77-OOS keeps queries and labels in parallel files, line by line, and train.seq.in has blank queries
 * (lines 3997 and 4018): pair first, then drop blanks, or every label after them is off by one.
 */
export function readPaired(seqFile: string, labelFile: string): Array<{ text: string; label: string }> {
  const split = (f: string) => fs.readFileSync(f, 'utf8').replace(/\n$/, '').split('\n').map((l) => l.trim());
  const texts = split(seqFile);
  const labels = split(labelFile);
  if (texts.length !== labels.length) throw new Error(`${seqFile} has ${texts.length} lines but ${labelFile} has ${labels.length}`);
  return texts.flatMap((text, i) => (text === '' ? [] : [{ text, label: labels[i] as string }]));
}

/**
 * BANKING77 queries of one split (banking77/train.csv or test.csv), optionally only the given intents.
 * BANKING77-OOS's own train.label and test.label do not line up with their .seq.in files (from about line 800
 * of train and 400 of test, each block of queries carries the next block's intent; valid.label is aligned),
 * so in-scope queries with labels come from here, restricted to the 50 intents of the OOS split.
 */
export function banking77(dataDir: string, split: 'train' | 'test', intents?: Set<string>): Array<{ text: string; label: string }> {
  const rows = parseCsv(fs.readFileSync(path.join(dataDir, 'banking77', `${split}.csv`), 'utf8'), { columns: true, skip_empty_lines: true }) as Array<{ text: string; category: string }>;
  return rows.map((r) => ({ text: r.text.trim(), label: r.category })).filter((r) => r.text !== '' && (!intents || intents.has(r.label)));
}

/** The FAQ questions of bench:redis (preloaded by the parent, asked by each replica process). */
export const featureQuestion = (i: number): string => `How do I configure feature number ${i} of the product?`;

// ---- throwaway redis-server ------------------------------------------------------------------------------

export type { RedisServer };

/** Starts redis-server without persistence on a free port, or says why it could not (the bench goes on). */
export async function startRedis(): Promise<RedisServer | { error: string }> {
  try {
    return await startTestRedis();
  } catch (err) {
    return { error: (err as Error).message.split('\n')[0] ?? 'redis-server failed to start' };
  }
}

// ---- CPU accounting -------------------------------------------------------------------------------------

/** Busy and total CPU time of the whole machine so far, in seconds (Linux /proc/stat); null elsewhere. */
export function machineCpu(): { busyS: number; totalS: number } | null {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    // cpu user nice system idle iowait irq softirq steal ...
    const t = line.trim().split(/\s+/).slice(1, 9).map(Number);
    if (t.length < 8 || t.some((x) => !Number.isFinite(x))) return null;
    const idle = (t[3] ?? 0) + (t[4] ?? 0);
    const total = t.reduce((a, b) => a + b, 0);
    return { busyS: (total - idle) / 100, totalS: total / 100 };
  } catch {
    return null;
  }
}

/** CPU seconds redis-server has used (INFO cpu), read over a socket of its own; null if it does not answer. */
export function redisCpuSeconds(port: number, timeoutMs = 2000): Promise<number | null> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    const done = (v: number | null): void => {
      sock.removeAllListeners();
      sock.on('error', () => undefined);
      sock.destroy();
      resolve(v);
    };
    sock.setTimeout(timeoutMs, () => done(null));
    sock.once('error', () => done(null));
    sock.once('connect', () => sock.write('INFO cpu\r\n'));
    sock.on('data', (d) => {
      buf += d.toString('utf8');
      const head = /^\$(\d+)\r\n/.exec(buf);
      if (!head || buf.length < head[0].length + Number(head[1])) return;
      const sys = /used_cpu_sys:([\d.]+)/.exec(buf)?.[1];
      const user = /used_cpu_user:([\d.]+)/.exec(buf)?.[1];
      done(sys !== undefined && user !== undefined ? Number(sys) + Number(user) : null);
    });
  });
}

/**
 * Waits until the machine is quiet (at most `maxBusyCores` busy over a `sampleMs` sample), up to `maxWaitMs`:
 * a timed run that shares the CPUs with an unrelated process (a test run, a build) measures that process too.
 * Resolves with how long it waited and whether it got quiet.
 */
export async function waitForQuiet(maxBusyCores = 0.15, maxWaitMs = 30_000, sampleMs = 300): Promise<{ waitedMs: number; quiet: boolean }> {
  const t0 = Date.now();
  for (;;) {
    const a = machineCpu();
    await new Promise((r) => setTimeout(r, sampleMs));
    const b = machineCpu();
    if (!a || !b) return { waitedMs: Date.now() - t0, quiet: true };
    const busy = (b.busyS - a.busyS) / (sampleMs / 1000);
    if (busy <= maxBusyCores) return { waitedMs: Date.now() - t0, quiet: true };
    if (Date.now() - t0 > maxWaitMs) return { waitedMs: Date.now() - t0, quiet: false };
  }
}
