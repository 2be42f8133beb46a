/**
 * Graceful shutdown: the Slack app started in-process (so the model can be a slow scripted one) stops taking
 * events at once, lets the answer in flight finish and be posted, then returns.
 */
import { preload } from '../src/faq/preload';
import { silentLogger } from '../src/logger';
import { startSlackBot } from '../src/slack/bot';
import { loadSlackConfig } from '../src/slack/config';
import { openTestApp, rec } from './helpers/app';
import { freePort } from '../testkit/redis';
import { startSlackApi } from '../testkit/slack-api';
import { appMention, eventCallback, postSigned } from '../testkit/slack-signing';

test('SIGTERM-style stop: no new events, the answer in flight is finished and posted', async () => {
  const api = await startSlackApi();
  let release: () => void = () => undefined;
  const app = await openTestApp({}, {
    generator: {
      generate: () =>
        new Promise((resolve) => {
          release = () => resolve({ answer: 'Tents rent from $20 a day.', usedEntries: ['rentals'] });
        }),
    },
  });
  await preload(app.store, [rec('rentals', 'Do you rent tents?', 'Yes.')], { tenant: 'T0001', prune: false, dryRun: false }, app.clock);
  const port = await freePort();
  const cfg = loadSlackConfig({ SLACK_BOT_TOKEN: api.expectedBotToken, SLACK_SIGNING_SECRET: 's', SLACK_API_URL: api.url, PORT: String(port), KVCACHE_PLACEHOLDER_MS: '50' });
  if (!cfg) throw new Error('no slack config');
  const bot = await startSlackBot(app, cfg, silentLogger);
  try {
    const url = `http://127.0.0.1:${port}/slack/events`;
    const ev = eventCallback({ teamId: 'T0001', eventId: 'EvStop1', event: appMention({ user: 'U1', channel: 'CS', text: '<@U0BOT> how much is a tent rental per day?', ts: '1.1' }) });
    expect((await postSigned(url, ev, { secret: 's' })).status).toBe(200);
    await api.waitFor((c) => c.method === 'chat.postMessage' && c.args.text === 'Looking into it…');
    const stopping = bot.stop();
    await new Promise((r) => setTimeout(r, 100));
    // The receiver is closed: a new event is not accepted.
    const refused = await postSigned(url, { ...ev, event_id: 'EvStop2' }, { secret: 's' }).then(() => false, () => true);
    expect(refused).toBe(true);
    release();
    await stopping;
    const update = api.callsTo('chat.update').find((c) => c.args.channel === 'CS');
    expect(update?.args.text).toBe('Tents rent from $20 a day.');
  } finally {
    await app.close();
    await api.close();
  }
}, 30_000);
