/** The Slack handlers as plain functions: no Bolt, a recording poster, the real core on a memory store. */
import type { App } from '../src/app';
import { preload } from '../src/faq/preload';
import { RateLimiter } from '../src/slack/guards';
import { answerQuestion, runCommand, stripBotMention, RATE_LIMITED_REPLY, ERROR_REPLY, type BotDeps, type SlackPoster } from '../src/slack/handlers';
import type { Generator } from '../src/core/types';
import { silentLogger } from '../src/logger';
import { FakeClock } from './helpers/clock';
import { openTestApp, rec } from './helpers/app';

class RecordingPoster implements SlackPoster {
  readonly log: Array<{ kind: 'post' | 'update' | 'ephemeral'; text: string; ts: string; threadTs?: string }> = [];
  private n = 0;
  async post(m: { text: string; channel: string; threadTs?: string }) {
    const ts = `1.${(this.n += 1)}`;
    this.log.push({ kind: 'post', text: m.text, ts, ...(m.threadTs ? { threadTs: m.threadTs } : {}) });
    return ts;
  }
  async update(m: { text: string; ts: string }) {
    this.log.push({ kind: 'update', text: m.text, ts: m.ts });
    return m.ts;
  }
  async ephemeral(m: { text: string }) {
    this.log.push({ kind: 'ephemeral', text: m.text, ts: '' });
    return true;
  }
}

describe('Slack handlers', () => {
  let app: App;
  let clock: FakeClock;
  let slowGen: { calls: number; delayMs: number; fail: boolean };
  const deps = (): BotDeps => ({ core: app, logger: silentLogger, limiter: new RateLimiter(3, 60_000, clock), placeholderMs: 50 });

  beforeEach(async () => {
    clock = new FakeClock();
    slowGen = { calls: 0, delayMs: 200, fail: false };
    const generator: Generator = {
      generate: async (_tenant, question) => {
        slowGen.calls += 1;
        await new Promise((r) => setTimeout(r, slowGen.delayMs));
        if (slowGen.fail) throw new Error('model crashed');
        return { answer: `generated answer to ${question}`, usedEntries: ['hours'] };
      },
    };
    app = await openTestApp({}, { clock, generator });
    await preload(app.store, [rec('hours', 'When are you open?', 'Nine to five.')], { tenant: 'T1', prune: false, dryRun: false }, clock);
  });
  afterEach(() => app.close());

  const q = (text: string, user = 'U1') => ({ tenant: 'T1', user, channel: 'C1', threadTs: '9.9', text, botUserId: 'UBOT' });

  test('a cache hit is posted at once in the thread, with no placeholder', async () => {
    const p = new RecordingPoster();
    const { result: r } = await answerQuestion(deps(), p, q('<@UBOT> when are you open'));
    expect(r?.source).toBe('normalized');
    expect(p.log).toEqual([{ kind: 'post', text: 'Nine to five.', ts: '1.1', threadTs: '9.9' }]);
  });

  test('a slow answer (the model) gets a placeholder first, then chat.update with the answer', async () => {
    const p = new RecordingPoster();
    const { result: r } = await answerQuestion(deps(), p, q('Do you rent canoes?'));
    expect(r?.source).toBe('generated');
    expect(p.log.map((l) => [l.kind, l.text])).toEqual([
      ['post', 'Looking into it…'],
      ['update', 'generated answer to Do you rent canoes?'],
    ]);
    expect(p.log[1]?.ts).toBe(p.log[0]?.ts);
  });

  test('a failure while answering is logged and the user gets an apology, never silence', async () => {
    slowGen.fail = true;
    slowGen.delayMs = 0;
    const p = new RecordingPoster();
    expect((await answerQuestion(deps(), p, q('Do you rent canoes?'))).result).toBeNull();
    expect(p.log.map((l) => l.text)).toEqual([ERROR_REPLY]);
  });

  test('the per-user rate limit answers politely once per window without asking the core, then stays quiet', async () => {
    const d = deps();
    const p = new RecordingPoster();
    for (let i = 0; i < 3; i++) await answerQuestion(d, p, q('When are you open?'));
    await answerQuestion(d, p, q('Do you rent canoes?'));
    expect(p.log.at(-1)?.text).toBe(RATE_LIMITED_REPLY);
    expect(slowGen.calls).toBe(0);
    const posted = p.log.length;
    for (let i = 0; i < 20; i++) await answerQuestion(d, p, q('Do you rent canoes?'));
    expect(p.log).toHaveLength(posted); // told once, not 20 more times
    clock.advance(30_000);
    await answerQuestion(d, p, q('Do you rent canoes?'));
    expect(p.log).toHaveLength(posted);
    await answerQuestion(d, p, q('When are you open?', 'U2')); // another user is not limited
    expect(p.log.at(-1)?.text).toBe('Nine to five.');
    clock.advance(60_001);
    await answerQuestion(d, p, q('When are you open?'));
    expect(p.log.at(-1)?.text).toBe('Nine to five.');
  });

  test("only the bot's own mention is stripped", () => {
    expect(stripBotMention('<@UBOT> hi <@U2>', 'UBOT')).toBe('hi <@U2>');
    expect(stripBotMention('<@UBOT|kvcache> hi', 'UBOT')).toBe('hi');
    expect(stripBotMention('<@UBOT>', 'UBOT')).toBe('');
  });

  test('commands: unknown subcommand shows help; add checks its input and refuses to shadow the FAQ', async () => {
    const admin = { tenant: 'T1', user: 'U1', isAdmin: async () => true };
    expect((await runCommand(deps(), { ...admin, text: 'frobnicate' })).text).toMatch(/I don't know frobnicate/);
    // Slack sends typed <, > and & as entities: the reply shows them once, never &amp;lt;.
    expect(JSON.stringify((await runCommand(deps(), { ...admin, text: 'x&lt;y' })).blocks)).toContain('x&lt;y');
    expect((await runCommand(deps(), { ...admin, text: 'add no arrow here' })).text).toMatch(/Usage: \/kvcache add/);
    expect((await runCommand(deps(), { ...admin, text: 'add when are you OPEN => never' })).text).toMatch(/Not added: .*FAQ entry "hours"/);
    expect((await runCommand(deps(), { ...admin, text: 'forget' })).text).toMatch(/Usage: \/kvcache forget/);
    let asked = 0;
    const nonAdmin = { tenant: 'T1', user: 'U2', isAdmin: async () => ((asked += 1), false) };
    expect((await runCommand(deps(), { ...nonAdmin, text: 'forget When are you open?' })).text).toMatch(/for workspace admins/);
    expect(asked).toBe(1);
    expect((await app.answerer.ask('T1', 'When are you open?')).source).toBe('exact');
  });
});
