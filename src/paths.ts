import fs from 'node:fs';
import path from 'node:path';

/** The package root, found the same way from src/ (ts-jest) and from dist/src/ (compiled). */
export function projectRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
  return dir;
}
