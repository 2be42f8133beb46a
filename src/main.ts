/**
 * `npm start`: the main job. With Slack tokens it runs the Slack app (issue 3); without them it opens the
 * embedded store, preloads the FAQ files of KVCACHE_FAQ (the demo FAQ by default) and starts the console chat.
 */
import { openApp } from './app';
import { loadConfig } from './config';
import { DEFAULT_TENANT } from './core/keys';
import { runChat } from './console/chat';
import { loadFaqFiles } from './faq/parse';
import { preload } from './faq/preload';
import { createLogger } from './logger';
import { KvcacheError } from './errors';
import { reportError } from './cli/main';

async function start(): Promise<void> {
  if (process.env.SLACK_BOT_TOKEN) {
    throw new KvcacheError(
      'CONFIG_INVALID',
      'SLACK_BOT_TOKEN is set, but this version has no Slack transport yet; unset SLACK_BOT_TOKEN to use the console chat',
    );
  }
  const config = loadConfig();
  const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel);
  const records = config.faqFiles.length > 0 ? await loadFaqFiles(config.faqFiles) : [];
  const app = await openApp(config, { logger });
  try {
    if (records.length > 0) {
      const plan = await preload(app.store, records, { tenant: DEFAULT_TENANT, prune: false, dryRun: false }, app.clock);
      process.stdout.write(
        `FAQ ${config.faqFiles.join(', ')}: ${plan.added.length} added, ${plan.changed.length} changed, ${plan.unchanged.length} unchanged\n`,
      );
    }
    await runChat(app, { tenant: DEFAULT_TENANT, input: process.stdin, output: process.stdout });
  } finally {
    await app.close();
  }
}

start().catch((err) => {
  process.exitCode = reportError(err);
});
