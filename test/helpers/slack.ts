import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { freePort } from '../../testkit/redis';
import type { SlackApi } from '../../testkit/slack-api';
import { collect, ROOT, spawnNode, type RunResult } from './cli';

/** Waits until a bot child process answers GET /healthz with 200 (or fails if it exits first). */
export async function waitHealthy(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`bot exited with ${child.exitCode}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (res.status === 200) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('bot did not become healthy');
}

export interface HttpBot {
  child: ChildProcess;
  done: Promise<RunResult>;
  /** The bot's Events API URL (events, commands and clicks are all posted there). */
  events: string;
  port: number;
}

/** Starts the compiled bot in HTTP mode against a local Slack and waits until it is healthy. */
export async function startHttpBot(api: SlackApi, secret: string, env: NodeJS.ProcessEnv): Promise<HttpBot> {
  const port = await freePort();
  const child = spawnNode([path.join(ROOT, 'bin', 'kvcache-bot.js')], {
    env: { SLACK_BOT_TOKEN: api.expectedBotToken, SLACK_SIGNING_SECRET: secret, SLACK_API_URL: api.url, PORT: String(port), KVCACHE_LOG_LEVEL: 'warn', ...env },
  });
  const bot = { child, done: collect(child), events: `http://127.0.0.1:${port}/slack/events`, port };
  await waitHealthy(port, child);
  return bot;
}
