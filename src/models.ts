import fs from 'node:fs';
import path from 'node:path';
import { projectRoot } from './paths';

export const MODELS_DIR = path.join(projectRoot(), 'models');

/**
 * A model folder in the transformers.js layout, named as a path or as a folder under models/: transformers.js
 * wants its parent (localModelPath) and its name. null when neither holds a config.json.
 */
export function findModelFolder(model: string): { localPath: string; name: string } | null {
  for (const dir of modelCandidates(model)) {
    if (fs.existsSync(path.join(dir, 'config.json'))) return { localPath: path.dirname(dir), name: path.basename(dir) };
  }
  return null;
}

/** Where a model name is looked for, in order (for error messages too). */
export function modelCandidates(model: string): string[] {
  return [path.resolve(model), path.join(MODELS_DIR, model)];
}
