/**
 * Redis has a bad minute: the bot process keeps answering (L1 hits, the fallback), stays alive, logs the outage
 * once, reports it on /healthz, and recovers by itself when redis-server is back; `kvcache verify --repair`
 * then restores the FAQ that a restart without persistence lost.
 */
import fs from 'node:fs';
import path from 'node:path';
import { freePort, startRedis, type RedisServer } from '../testkit/redis';
import { startSlackApi, type SlackApi } from '../testkit/slack-api';
import { appMention, eventCallback, postSigned } from '../testkit/slack-signing';
import pino from 'pino';
import { openTestApp, tmpDir } from './helpers/app';
import { collect, runCli, spawnNode } from './helpers/cli';
import { waitHealthy } from './helpers/slack';

const FAQ = '- {id: hours, question: When are you open?, answer: Daily from 9 to 5.}\n';

test('stopping, then pausing redis-server mid-run: answers keep coming, one warning per outage, /healthz degraded, recovery without a restart', async () => {
  let redis: RedisServer = await startRedis();
  const port = redis.port;
  const api: SlackApi = await startSlackApi({ users: { UJOE: {} } });
  const faq = path.join(tmpDir(), 'faq.yaml');
  fs.writeFileSync(faq, FAQ);
  const env = { KVCACHE_STORE: redis.url, KVCACHE_EMBED_MODEL: 'none', KVCACHE_FAQ: '' };
  expect((await runCli(['preload', faq], { env })).code).toBe(0);
  const botPort = await freePort();
  const child = spawnNode([path.join(__dirname, '..', 'bin', 'kvcache-bot.js')], {
    env: { ...env, SLACK_BOT_TOKEN: api.expectedBotToken, SLACK_SIGNING_SECRET: 's', SLACK_API_URL: api.url, PORT: String(botPort), KVCACHE_LOG_LEVEL: 'warn', KVCACHE_STATS_FLUSH_MS: '200', KVCACHE_RATE_LIMIT: '1000/1m' },
  });
  const done = collect(child);
  let n = 0;
  const ask = async (text: string): Promise<string> => {
    n += 1;
    const channel = `C${n}`;
    const body = eventCallback({ teamId: 'T0001', eventId: `EvOUT${n}`, event: appMention({ user: 'UJOE', channel, text: `<@U0BOT> ${text}`, ts: `1700000000.${String(n).padStart(6, '0')}` }) });
    const t0 = Date.now();
    expect((await postSigned(`http://127.0.0.1:${botPort}/slack/events`, body, { secret: 's' })).status).toBe(200);
    const post = await api.waitFor((c) => c.method === 'chat.postMessage' && c.args.channel === channel, 10_000);
    expect(Date.now() - t0).toBeLessThan(2000);
    return String(post.args.text);
  };
  const health = async () => (await (await fetch(`http://127.0.0.1:${botPort}/healthz`)).json()) as { ok: boolean; degraded?: boolean };
  try {
    await waitHealthy(botPort, child);
    expect(await ask('When are you open?')).toBe('Daily from 9 to 5.');

    await redis.stop();
    // The same question is served from the in-process L1; a new one gets the honest fallback, never an error.
    for (let i = 0; i < 5; i++) expect(await ask('When are you open?')).toBe('Daily from 9 to 5.');
    expect(await ask('Do you sell kayaks?')).toMatch(/^I don't know yet/);
    expect(await health()).toMatchObject({ ok: true, degraded: true });
    // Long enough for statistics flushes (every 200 ms) to fail and hold their counts.
    await new Promise((r) => setTimeout(r, 700));

    redis = await startRedis({ port });
    // Back, but empty (no persistence). Once reconnected, the bot must not keep serving its L1: it may have
    // missed invalidations while disconnected, so it drops it and sees that the FAQ is gone.
    const reconnectBy = Date.now() + 10_000;
    let stale = 'Daily from 9 to 5.';
    while (Date.now() < reconnectBy && stale === 'Daily from 9 to 5.') {
      stale = await ask('When are you open?');
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(stale).toMatch(/^I don't know yet/);
    // A restart without persistence lost the FAQ: verify says so, --repair restores it.
    const verify = await runCli(['verify', faq], { env });
    expect(verify.code).toBe(1);
    expect(verify.stdout).toMatch(/1 missing/);
    const repair = await runCli(['verify', '--repair', faq], { env });
    expect([repair.code, repair.stdout]).toEqual([0, expect.stringMatching(/repaired: 1 entries restored/)]);
    // The bot reconnects by itself; its L1 was dropped on reconnect, so it reads the restored FAQ.
    const deadline = Date.now() + 10_000;
    let answer = '';
    while (Date.now() < deadline && answer !== 'Daily from 9 to 5.') answer = await ask('when are you open');
    expect(answer).toBe('Daily from 9 to 5.');
    expect(await health()).toEqual({ ok: true });
    // The lookups answered during the outage were counted in memory and written after it, and the report
    // says so (a restart without persistence may have taken at most the one lookup flushed before it).
    type Outages = { lookups: number; outages: { failedWrites: number; lookupsWrittenLate: number } };
    const statsBy = Date.now() + 10_000;
    let report: Outages;
    for (;;) {
      const s = await runCli(['stats', '--json', '--team', 'T0001'], { env });
      report = JSON.parse(s.stdout) as Outages;
      if (report.outages.failedWrites > 0 || Date.now() > statsBy) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(report.outages.failedWrites).toBeGreaterThan(0);
    expect(report.outages.lookupsWrittenLate).toBeGreaterThanOrEqual(6);
    expect(report.lookups).toBeGreaterThanOrEqual(n - 1);

    // A hung Redis (paused: connections open, no replies) is the same to the asker: every reply within 2 s.
    redis.pause();
    expect(await ask('when are you open')).toBe('Daily from 9 to 5.');
    expect(await ask('Do you rent canoes?')).toMatch(/^I don't know yet/);
    redis.resume();
    expect(child.exitCode).toBeNull();
  } catch (err) {
    child.kill('SIGTERM');
    const r = await done;
    await api.close();
    await redis.stop();
    throw new Error(`${(err as Error).message}\n--- bot stderr:\n${r.stderr}`);
  }
  child.kill('SIGTERM');
  const r = await done;
  await api.close();
  await redis.stop();
  expect(r.code).toBe(0);
  // One warning per outage: the stop, then the pause.
  const warnings = r.stderr.split('\n').filter((l) => l.includes('store unavailable'));
  expect(warnings).toHaveLength(2);
  expect(r.stderr).toMatch(/store is back/);
  expect(r.stderr).toMatch(/statistics held in memory while the store was down are written/);
}, 90_000);

test('a process that exits while Redis is down keeps its statistics in the data folder; the next start adds them, once', async () => {
  const redis1 = await startRedis();
  const dataDir = tmpDir();
  const logs: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (s: string) => void logs.push(s) });
  const a = await openTestApp({ store: redis1.url, dataDir, statsFlushMs: 0 }, { logger });
  for (const q of ['Do you ship to Canada?', 'Do you ship to Canada?', 'Where is my order?']) await a.answerer.ask('default', q);
  await redis1.stop();
  await a.close();
  const spooled = fs.readdirSync(dataDir).filter((f) => f.startsWith('unwritten-stats-'));
  expect(spooled).toHaveLength(1);
  expect(logs.join('')).toMatch(/statistics could not be written before exit: kept in the data folder/);

  const redis2 = await startRedis({ port: redis1.port });
  try {
    // Two processes start on the same folder at once: only one takes the file.
    const [b, c] = await Promise.all([openTestApp({ store: redis2.url, dataDir, statsFlushMs: 0 }, { logger }), openTestApp({ store: redis2.url, dataDir, statsFlushMs: 0 }, { logger })]);
    await c.close(); // whichever of the two took the file has written it by now
    const report = await b.report('default');
    await b.close();
    expect(report.lookups).toBe(3);
    expect(report.outages).toMatchObject({ failedWrites: 1, lookupsWrittenLate: 3 });
    expect(report.unanswered.map((u) => u.question)).toEqual(['Where is my order?', 'Do you ship to Canada?', 'Do you ship to Canada?']);
    expect(fs.readdirSync(dataDir).filter((f) => f.startsWith('unwritten-stats-'))).toEqual([]);
  } finally {
    await redis2.stop();
  }
});
