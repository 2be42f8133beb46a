/**
 * Runs bench/redis-replica.ts processes for bench:redis: spawning them, and timed runs of several replicas side
 * by side with the CPU of everything on the machine accounted over the window.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { projectRoot } from '../src/paths';
import { machineCpu, redisCpuSeconds, waitForQuiet, type LatencySummary } from './common';

const REPLICA = path.join(projectRoot(), 'dist', 'bench', 'redis-replica.js');
/** Other processes using more than this many cores during a timed run make it unfair: it is flagged. */
export const OTHER_CPU_LIMIT = 0.15;

type Window = { startLateMs: number; endEpochMs: number; cpuMs: number };
export type Summary = LatencySummary & { errors: number; fallbacks: number; health: { degraded: boolean }; window?: Window };

export interface ReplicaProc {
  /** Resolves once warmed up (barrier start only). */
  ready: Promise<void>;
  go(startAt: number): void;
  result: Promise<Summary>;
}

/** `barrier`: the replica waits for go(); otherwise its args carry --start. */
export function spawnReplica(args: string[], barrier: boolean): ReplicaProc {
  const child = spawn(process.execPath, [REPLICA, ...args], { stdio: [barrier ? 'pipe' : 'ignore', 'pipe', 'inherit'] });
  let out = '';
  let onReady: () => void = () => undefined;
  const readyLine = new Promise<void>((r) => (onReady = r));
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    if (out.includes('{"ready":true}')) onReady();
  });
  const result = new Promise<Summary>((resolve, reject) =>
    child.on('exit', (code, signal) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop() ?? '{}') as Summary) : reject(new Error(`replica exited ${code ?? signal}`)))),
  );
  return {
    ready: barrier ? Promise.race([readyLine, result.then(() => Promise.reject(new Error('replica exited before it was ready')))]) : Promise.resolve(),
    go: (startAt) => child.stdin?.end(`go ${startAt}\n`),
    result,
  };
}

export interface Timed {
  runs: Summary[];
  perSecond: number;
  /** Cores used during the timed window: the replicas, redis-server, and everything else on the machine. */
  cpu: { replicas: number; redis: number | null; other: number | null };
  /** Share of the window during which every replica was running (1 = fully side by side). */
  overlap: number;
  quiet: boolean;
}

/**
 * One timed run of `n` replicas. Every replica warms up first; the window starts for all of them at once
 * when all are ready and the machine is quiet; CPU is accounted over the window.
 */
export async function timedRun(args: string[], n: number, redisPort: number, seconds: number): Promise<Timed> {
  const procs = Array.from({ length: n }, () => spawnReplica(args, true));
  await Promise.all(procs.map((p) => p.ready));
  const { quiet } = await waitForQuiet(OTHER_CPU_LIMIT);
  const startAt = Date.now() + 100;
  for (const p of procs) p.go(startAt);
  await new Promise((r) => setTimeout(r, startAt - Date.now()));
  const m0 = machineCpu();
  const r0 = await redisCpuSeconds(redisPort);
  const w0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const m1 = machineCpu();
  const r1 = await redisCpuSeconds(redisPort);
  const wallS = (performance.now() - w0) / 1000;
  const runs = await Promise.all(procs.map((p) => p.result));
  const replicasCores = runs.reduce((s, r) => s + (r.window?.cpuMs ?? 0), 0) / 1000 / seconds;
  const redisCores = r0 !== null && r1 !== null ? (r1 - r0) / wallS : null;
  const busy = m0 && m1 ? (m1.busyS - m0.busyS) / wallS : null;
  const other = busy !== null && redisCores !== null ? Math.max(0, busy - replicasCores - redisCores) : null;
  const late = Math.max(...runs.map((r) => r.window?.startLateMs ?? 0));
  const firstEnd = Math.min(...runs.map((r) => r.window?.endEpochMs ?? startAt + seconds * 1000));
  const overlap = Math.max(0, Math.min(1, (firstEnd - startAt - late) / (seconds * 1000)));
  return { runs, perSecond: runs.reduce((s, r) => s + r.perSecond, 0), cpu: { replicas: replicasCores, redis: redisCores, other }, overlap, quiet };
}

