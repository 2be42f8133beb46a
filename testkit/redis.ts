/**
 * Starts a real, throwaway redis-server for tests: free port, no persistence, bound to 127.0.0.1, its own
 * temp dir. Tests never skip Redis: a missing redis-server is an error that says how to install it.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface RedisServer {
  url: string;
  port: number;
  /** SIGTERM, then wait for exit (SIGKILL after 5 s). */
  stop(): Promise<void>;
  /** SIGKILL, then wait for exit (simulates a crash). */
  kill(): Promise<void>;
  /** One inline command, e.g. FLUSHALL; resolves with the first reply line. */
  command(cmd: string): Promise<string>;
  /** SIGSTOP / SIGCONT: a server that keeps its connections open but answers nothing (a hung Redis). */
  pause(): void;
  resume(): void;
}

const NOT_FOUND = 'redis-server not found: apt-get install -y redis-server (.ci/run does this)';

/** A port nothing listens on right now (listen on 0, read the port, close). */
export async function freePort(): Promise<number> {
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

function findRedisServer(): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, 'redis-server');
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      /* keep looking */
    }
  }
  throw new Error(NOT_FOUND);
}

/** Resolves true when something on the port answers PING with +PONG. */
/** Sends one inline command (PING, FLUSHALL) and resolves with the first reply line. */
export function redisCommand(port: number, cmd: string, timeoutMs = 30_000): Promise<string> {
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

async function ping(port: number): Promise<boolean> {
  return redisCommand(port, 'PING', 1000).then(
    // A server with requirepass answers NOAUTH: up all the same.
    (line) => line === '+PONG' || line.startsWith('-NOAUTH'),
    () => false,
  );
}

function waitExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/**
 * `port`: reuse a port (a restart of a stopped server, as after an outage); default a free one. `args`: more
 * redis-server options (`--requirepass`, `--tls-port` with its files, …).
 */
export async function startRedis(opts: { port?: number; args?: string[] } = {}): Promise<RedisServer> {
  const bin = findRedisServer();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvcache-redis-'));
  const port = opts.port ?? (await freePort());
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', ...(opts.args ?? [])];
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (d: Buffer): void => {
    output = (output + d.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = (err as NodeJS.ErrnoException).code === 'ENOENT' ? new Error(NOT_FOUND) : err;
  });

  const cleanupDir = (): void => fs.rmSync(dir, { recursive: true, force: true });
  const terminate = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGCONT'); // a paused server would not act on SIGTERM
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await waitExit(child);
      clearTimeout(timer);
    }
    child.stdout?.destroy();
    child.stderr?.destroy();
    cleanupDir();
  };

  const deadline = Date.now() + 10_000;
  for (;;) {
    if (spawnError) {
      cleanupDir();
      throw spawnError;
    }
    if (child.exitCode !== null || child.signalCode !== null) {
      cleanupDir();
      throw new Error(`redis-server exited early (code ${child.exitCode}, signal ${child.signalCode}):\n${output}`);
    }
    if (await ping(port)) break;
    if (Date.now() > deadline) {
      await terminate('SIGKILL');
      throw new Error(`redis-server on port ${port} did not answer PING within 10 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: () => terminate('SIGTERM'),
    kill: () => terminate('SIGKILL'),
    command: (cmd) => redisCommand(port, cmd),
    pause: () => void child.kill('SIGSTOP'),
    resume: () => void child.kill('SIGCONT'),
  };
}
