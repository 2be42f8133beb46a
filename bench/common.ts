/**
 * Shared bench helpers: seeded randomness, percentiles, fixed-width tables, JSON output, CLI flags and a
 * throwaway redis-server. Bench code is compiled by tsconfig.build.json, which leaves test/ out, so the redis
 * starter here is a trimmed copy of test/helpers/redis.ts rather than an import of it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';

/** mulberry32: tiny, fast and good enough to pick keys; the fixed seed makes runs comparable. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
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

// ---- throwaway redis-server ------------------------------------------------------------------------------

export interface RedisServer {
  url: string;
  port: number;
  /** Sends one inline command (e.g. FLUSHALL) and resolves with the first reply line. */
  command(cmd: string): Promise<string>;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('could not get a free port'))));
    });
  });
}

function findOnPath(bin: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    try {
      fs.accessSync(path.join(dir, bin), fs.constants.X_OK);
      return path.join(dir, bin);
    } catch {
      /* keep looking */
    }
  }
  return null;
}

function inline(port: number, cmd: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    const done = (err: Error | null, line = ''): void => {
      sock.removeAllListeners();
      sock.on('error', () => undefined);
      sock.destroy();
      if (err) reject(err);
      else resolve(line);
    };
    sock.setTimeout(timeoutMs, () => done(new Error(`redis ${cmd}: no reply within ${timeoutMs} ms`)));
    sock.once('error', (e) => done(e));
    sock.once('connect', () => sock.write(`${cmd}\r\n`));
    sock.on('data', (d) => {
      buf += d.toString('utf8');
      const end = buf.indexOf('\r\n');
      if (end !== -1) done(null, buf.slice(0, end));
    });
  });
}

const exited = (c: ChildProcess): boolean => c.exitCode !== null || c.signalCode !== null;

/** Starts redis-server without persistence on a free port, or returns why it could not. */
export async function startRedis(): Promise<RedisServer | { error: string }> {
  const bin = findOnPath('redis-server');
  if (!bin) return { error: 'redis-server not found on PATH (apt-get install -y redis-server)' };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvcache-bench-redis-'));
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (d: Buffer): void => {
    output = (output + d.toString('utf8')).slice(-2000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err));

  const stop = async (): Promise<void> => {
    if (!exited(child)) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(t);
    }
    child.stdout?.destroy();
    child.stderr?.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 10_000;
  for (;;) {
    if (spawnError || exited(child)) {
      await stop();
      return { error: `redis-server failed to start: ${spawnError?.message ?? output.trim().split('\n').pop() ?? 'exited'}` };
    }
    if ((await inline(port, 'PING', 500).catch(() => '')) === '+PONG') break;
    if (Date.now() > deadline) {
      await stop();
      return { error: `redis-server on port ${port} did not answer PING within 10 s` };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url: `redis://127.0.0.1:${port}`, port, command: (cmd) => inline(port, cmd, 30_000), stop };
}
