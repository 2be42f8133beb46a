/**
 * `npm start`: the main job. With SLACK_BOT_TOKEN set it answers in Slack; without it, it opens the embedded
 * store, preloads the FAQ files of KVCACHE_FAQ (the demo FAQ by default) and starts the console chat.
 */
import { openApp } from './app';
import { loadConfig } from './config';
import { DEFAULT_TENANT } from './core/keys';
import { runChat } from './console/chat';
import { loadFaqFiles } from './faq/parse';
import { preload } from './faq/preload';
import { createLogger } from './logger';
import { reportError } from './cli/main';
import { loadSlackConfig } from './slack/config';
import { startSlackBot } from './slack/bot';

async function start(): Promise<void> {
  const slack = loadSlackConfig();
  const config = loadConfig();
  // In Slack mode the demo FAQ is not loaded unless asked for: a real workspace gets its own FAQ.
  const faqFiles = slack && process.env.KVCACHE_FAQ === undefined ? [] : config.faqFiles;
  const logger = createLogger(slack ? config.logLevel : config.logLevel === 'info' ? 'warn' : config.logLevel);
  const records = faqFiles.length > 0 ? await loadFaqFiles(faqFiles) : [];
  const app = await openApp(config, { logger, withModel: true, withEmbedder: true });
  let closing = false;
  try {
    if (records.length > 0) {
      const plan = await preload(app.store, records, { tenant: DEFAULT_TENANT, prune: false, dryRun: false }, app.clock);
      if (app.semantic) await app.semantic.sync(DEFAULT_TENANT);
      const line = `FAQ ${faqFiles.join(', ')}: ${plan.added.length} added, ${plan.changed.length} changed, ${plan.unchanged.length} unchanged`;
      if (slack) logger.info(line);
      else process.stdout.write(`${line}\n`);
    }
    if (!slack) {
      // The chat starts at once; the model loads beside it.
      void app.semantic?.warm();
      await runChat(app, { tenant: DEFAULT_TENANT, input: process.stdin, output: process.stdout });
      return;
    }
    // Before the bot reports ready, so that no first Chinese question waits for its model.
    await app.semantic?.warm();
    const bot = await startSlackBot(app, slack, logger);
    await new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        if (closing) return;
        closing = true;
        logger.info({ signal }, 'shutting down: no new events, finishing answers in flight');
        void bot.stop().finally(resolve);
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
  } finally {
    await app.close();
  }
}

start().then(
  () => {
    // Bolt and the WebClient may keep sockets alive; the store is closed, so leave now.
    if (process.env.SLACK_BOT_TOKEN) process.exit(process.exitCode ?? 0);
  },
  (err: unknown) => {
    process.exitCode = reportError(err);
    if (process.env.SLACK_BOT_TOKEN) setTimeout(() => process.exit(process.exitCode ?? 1), 50).unref();
  },
);
