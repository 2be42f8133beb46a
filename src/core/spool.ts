/**
 * Statistics a process could not write before it exited (the store was down) are kept in a file in the data
 * folder, and the next process to start on that folder adds them once the store answers, counted as written
 * late: a deploy during a Redis outage loses no counts. Each file is taken by one process only (an atomic
 * rename), so two replicas sharing the folder never add it twice.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { StatsDoc } from './stats';

const PREFIX = 'unwritten-stats-';

/** Writes the deltas to a new file (temp + rename: a crash never leaves half a file); returns its path. */
export function spoolStats(dataDir: string, deltas: Record<string, StatsDoc>): string | null {
  if (Object.keys(deltas).length === 0) return null;
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, `${PREFIX}${Date.now()}-${process.pid}.json`);
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify({ version: 1, deltas }));
  fs.renameSync(tmp, file);
  return file;
}

/**
 * Takes every spooled file in the folder and returns its deltas; files that cannot be read are left where
 * they are, renamed `.bad`, and named in `problems`.
 */
export function takeSpooledStats(dataDir: string): { deltas: Array<Record<string, StatsDoc>>; files: string[]; problems: string[] } {
  const out = { deltas: [] as Array<Record<string, StatsDoc>>, files: [] as string[], problems: [] as string[] };
  let names: string[];
  try {
    names = fs.readdirSync(dataDir).filter((n) => n.startsWith(PREFIX) && n.endsWith('.json'));
  } catch {
    return out;
  }
  for (const name of names) {
    const file = path.join(dataDir, name);
    const taken = `${file}.taken-${process.pid}`;
    try {
      fs.renameSync(file, taken); // only one process wins the rename
    } catch {
      continue;
    }
    try {
      const parsed = JSON.parse(fs.readFileSync(taken, 'utf8')) as { version?: number; deltas?: Record<string, StatsDoc> };
      if (parsed.version !== 1 || typeof parsed.deltas !== 'object' || parsed.deltas === null) throw new Error('not a statistics spool file');
      out.deltas.push(parsed.deltas);
      out.files.push(file);
      fs.rmSync(taken, { force: true });
    } catch (err) {
      fs.renameSync(taken, `${file}.bad`);
      out.problems.push(`${file}: ${(err as Error).message}`);
    }
  }
  return out;
}
