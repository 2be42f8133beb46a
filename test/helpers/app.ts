import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openApp, type App, type AppDeps } from '../../src/app';
import { loadConfig, type Config } from '../../src/config';
import type { FaqRecord } from '../../src/faq/parse';

export function tmpDir(prefix = 'kvcache-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function testConfig(overrides: Partial<Config> = {}): Config {
  return { ...loadConfig({ KVCACHE_FAQ: '' }), statsFlushMs: 0, store: 'memory://', dataDir: tmpDir(), ...overrides };
}

export function openTestApp(overrides: Partial<Config> = {}, deps: AppDeps = {}): Promise<App> {
  return openApp(testConfig(overrides), deps);
}

let line = 0;
export function rec(id: string, question: string, answer: string, alternates: string[] = [], tags: string[] = []): FaqRecord {
  line += 1;
  return { id, question, answer, alternates, tags, file: 'test.yaml', line };
}
