/**
 * Every payload the bot builds, with the most extreme inputs the product accepts, through the same Block Kit
 * validator the local Slack uses (testkit/block-kit.ts): whatever the input, Slack would accept the message.
 */
import type { App } from '../src/app';
import { preload } from '../src/faq/preload';
import type { StatsReport } from '../src/core/report';
import type { AnswerResult } from '../src/core/types';
import {
  answerMessages,
  buttonValue,
  feedbackReceived,
  homeView,
  placeholderMessage,
  plainFallback,
  statsBlocks,
  type FeedbackValue,
  type SlackMessage,
} from '../src/slack/blocks';
import { RateLimiter } from '../src/slack/guards';
import { chooseSuggestion, parseFeedbackValue, runCommand, type BotDeps } from '../src/slack/handlers';
import { authorMrkdwn, fitList, fromSlackText, safeCut, splitText, truncate } from '../src/slack/text';
import { silentLogger } from '../src/logger';
import { validateBlocks, validateMessage, validateModal } from '../testkit/block-kit';
import type { Handoff } from '../src/handoff/handoffs';
import { answerModal, handoffHomeBlocks, handoffList, noneButton, requestButton, supportClosed, supportPost } from '../src/slack/handoff-blocks';
import { openTestApp, rec } from './helpers/app';
import { FakeClock } from './helpers/clock';

const FAMILY = '👨‍👩‍👧‍👦'; // one grapheme of 11 UTF-16 units
const FLAG = '🇯🇵';
const QUOTES = '"\\"'.repeat(500); // JSON escaping doubles or triples these
const CONTROL = '\u0001\u0002\u0007'.repeat(300); // JSON escapes each to six characters
const CJK = '退款流程需要多久才能到账？'.repeat(200);

/** The longest inputs of each kind: questions up to KVCACHE_MAX_QUESTION_CHARS' maximum, answers up to the FAQ limit. */
const QUESTIONS = {
  quotes: `${QUOTES}${QUOTES}`.slice(0, 2000),
  control: CONTROL.slice(0, 2000),
  cjk: CJK.slice(0, 2000),
  emoji: FAMILY.repeat(181),
  entities: '&lt;script&gt; &amp; *bold* _it_ ~s~ `code` <@U123|joe> <!here>'.repeat(40),
  huge: 'why '.repeat(25_000), // 100,000 characters: KVCACHE_MAX_QUESTION_CHARS at its maximum
};
const ANSWERS = {
  plain: 'Refunds take five days. '.repeat(1667).slice(0, 40_000),
  ampersands: '&'.repeat(40_000), // escaping makes each one five characters
  angle: '<b> & <i> '.repeat(4000),
  cjk: CJK.repeat(20).slice(0, 40_000),
  emoji: `${FAMILY}${FLAG} `.repeat(2800).slice(0, 40_000),
  oneWord: 'x'.repeat(40_000),
  links: 'See <https://example.com/returns?a=1&b=2|our returns page> for details. '.repeat(500).slice(0, 40_000),
};

function expectValid(m: SlackMessage, what: string): void {
  const problem = validateMessage({ text: m.text, blocks: m.blocks });
  if (problem) throw new Error(`${what}: ${problem.error} (${problem.detail})`);
}

const result = (answer: string, question: string, extra: Partial<AnswerResult> = {}): AnswerResult => ({
  question,
  answer,
  source: 'semantic',
  entryId: 'refunds',
  matchedQuestion: 'How long do refunds take? '.repeat(70).slice(0, 2000),
  score: 0.9,
  latencyMs: 1,
  entryTenant: 'T1',
  entrySource: 'faq',
  ...extra,
});

describe('every payload the bot builds passes Slack’s limits with extreme input', () => {
  test.each(Object.entries(ANSWERS))('an answer of 40,000 characters (%s) is split into valid messages, nothing dropped', (_name, answer) => {
    for (const [qName, question] of Object.entries(QUESTIONS)) {
      const msgs = answerMessages(result(answer, question), 'T1', { user: 'U1', tenant: 'T1' });
      msgs.forEach((m, i) => expectValid(m, `answer part ${i + 1} for question ${qName}`));
      // Every character of the rendered answer is in some section, in order.
      const shown = msgs.flatMap((m) => m.blocks.filter((b) => b.type === 'section').map((b) => (b.text as { text: string }).text)).join('');
      expect(shown.replace(/\s/g, '')).toBe(authorMrkdwn(answer).replace(/\s/g, ''));
      if (msgs.length > 1) expect(JSON.stringify(msgs[0]?.blocks)).toMatch(`continues in ${msgs.length - 1} more message`);
      // Buttons only on the last part, and their value within 2,000 characters.
      expect(msgs.slice(0, -1).some((m) => m.blocks.some((b) => b.type === 'actions'))).toBe(false);
      expect(msgs.at(-1)?.blocks.some((b) => b.type === 'actions')).toBe(true);
    }
  });

  test('a button value stays within 2,000 characters for any question and keeps as much of it as fits', () => {
    for (const [name, q] of Object.entries(QUESTIONS)) {
      const v = buttonValue({ t: 'T1', id: 'refunds', q, u: 'U1', a: 'T1' });
      expect([name, v.length <= 2000]).toEqual([name, true]);
      const back = parseFeedbackValue(v) as FeedbackValue;
      expect(q.startsWith(back.q)).toBe(true);
      expect(back).toMatchObject({ t: 'T1', id: 'refunds', u: 'U1', a: 'T1' });
      // As long as the encoding allows: one more character would not fit.
      // As much as fits: within a few characters of the limit (a cut also steps back out of markup or a grapheme).
      if (back.q.length < q.length) expect(v.length).toBeGreaterThan(1900);
    }
    // The issue's measured cases: 1,494 characters with 370 quotes, and control characters.
    const pasted = `${'{"k": "v"} '.repeat(37)}${'x'.repeat(1494 - 37 * 11)}`;
    expect(buttonValue({ t: 'T1', id: 'e', q: pasted }).length).toBeLessThanOrEqual(2000);
  });

  test('"did you mean" with long FAQ questions and an extreme question: labels end on whole graphemes', () => {
    const suggestions = [
      { entryId: 'a', entryTenant: 'T1', question: `${'Where is my parcel '.repeat(3)}${FAMILY.repeat(10)}`, similarity: 0.6 },
      { entryId: 'b', entryTenant: 'default', question: FLAG.repeat(60), similarity: 0.5 },
      { entryId: 'c', entryTenant: 'T1', question: CJK.slice(0, 2000), similarity: 0.4 },
    ];
    for (const question of Object.values(QUESTIONS)) {
      const answer = `I'm not sure I understood. Did you mean one of these?\n${suggestions.map((s, i) => `${i + 1}. ${s.question}`).join('\n')}`;
      const [m] = answerMessages(result(answer, question, { suggestions, source: 'fallback', entryId: null }), 'T1', { user: 'U1', tenant: 'T1' });
      expectValid(m as SlackMessage, 'did you mean');
      const labels = ((m?.blocks[1]?.elements ?? []) as Array<{ text: { text: string } }>).map((e) => e.text.text);
      for (const label of labels) {
        expect(label.length).toBeLessThanOrEqual(75);
        // No lone surrogate, no broken emoji sequence: the label is a prefix of whole graphemes.
        expect(label).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|\u200D…$/);
      }
      expect(labels[1]).toMatch(/^(🇯🇵)+…$/);
    }
  });

  test('placeholder, plain fallback and feedback acknowledgements are valid', () => {
    expectValid(placeholderMessage(), 'placeholder');
    for (const answer of Object.values(ANSWERS)) {
      const [first] = answerMessages(result(answer, 'q'), 'T1');
      expectValid({ text: plainFallback(first as SlackMessage).text, blocks: [] }, 'fallback');
      for (const vote of ['up', 'down'] as const) expectValid({ text: 'x', blocks: feedbackReceived(answerMessages(result(answer, 'q'), 'T1').at(-1)?.blocks ?? [], vote, true) }, 'feedback');
    }
  });
});

describe('admin payloads with many long questions', () => {
  let app: App;
  let clock: FakeClock;
  const deps = (): BotDeps => ({ core: app, logger: silentLogger, limiter: new RateLimiter(1000, 60_000, clock), placeholderMs: 50 });
  const admin = { tenant: 'T1', user: 'U1', isAdmin: async () => true };

  beforeAll(async () => {
    clock = new FakeClock();
    app = await openTestApp({ maxQuestionChars: 100_000 }, { clock });
    await preload(
      app.store,
      [rec('refunds', 'How long do refunds take?', ANSWERS.plain), rec('policy', 'What is the returns policy?', ANSWERS.emoji)],
      { tenant: 'T1', prune: false, dryRun: false },
      clock,
    );
    // Ten different long unanswered questions (and top questions), of every kind.
    const kinds = Object.values(QUESTIONS);
    for (let i = 0; i < 12; i++) await app.answerer.ask('T1', `${i} ${kinds[i % kinds.length] ?? ''}`.slice(0, 100_000));
    for (let i = 0; i < 3; i++) await app.answerer.ask('T1', 'How long do refunds take?');
    app.stats.recordDelivery('T1', 'rate_limited', null);
    app.stats.recordDelivery('T1', 'payload', 'recovered');
    app.stats.recordDelivery('T1', 'channel', 'undelivered');
    await app.stats.flush();
  });
  afterAll(() => app.close());

  test('every /kvcache subcommand answers within the limits', async () => {
    const long = ANSWERS.ampersands.slice(0, 3500);
    const texts = ['stats', 'top', 'unanswered', 'help', 'frobnicate'.repeat(300), `forget ${QUESTIONS.quotes}`, 'forget How long do refunds take?', `add ${QUESTIONS.cjk.slice(0, 1500)} => ${long}`, `add q => ${ANSWERS.plain}`];
    for (const text of texts) {
      const m = await runCommand(deps(), { ...admin, text });
      expectValid(m, `/kvcache ${text.slice(0, 20)}`);
    }
    // The confirmation of a 3,500-character answer says how long it is instead of echoing it whole.
    const added = await runCommand(deps(), { ...admin, text: `add How long is a piece of string? => ${long}` });
    expect(added.text).toMatch(/\(3,500 characters\)/);
  });

  test('long lists end with "…and N more" instead of stopping silently', async () => {
    const m = await runCommand(deps(), { ...admin, text: 'unanswered' });
    const list = (m.blocks[1]?.text as { type: string; text: string }).text;
    expect((m.blocks[1]?.text as { type: string }).type).toBe('plain_text');
    expect(list).toMatch(/…and \d+ more$|^10\. /m);
    const items = list.split('\n').filter((l) => /^\d+\. /.test(l));
    if (items.length < 10) expect(list).toMatch(new RegExp(`…and ${10 - items.length} more$`));
    expect(items.length).toBeGreaterThanOrEqual(5);
  });

  test('stats and the App Home are valid, show delivery failures, and render user text as plain text', async () => {
    const r: StatsReport = await app.report('T1');
    expect(r.slackDelivery).toEqual({ failures: { rate_limited: 1, payload: 1, channel: 1 }, recovered: 1, undelivered: 1 });
    const stats = { text: 'stats', blocks: statsBlocks(r) };
    expectValid(stats, 'stats');
    expect(JSON.stringify(stats.blocks)).toMatch(/Slack delivery failures\*\\n1 rate_limited, 1 payload, 1 channel; 1 recovered, 1 undelivered/);
    const home = homeView(r);
    expect(validateBlocks(home.blocks, 'home')).toBeNull();
    // The entities question: decoded once and escaped once (&lt; not &amp;lt;), formatting shown as typed, no mention left.
    const shown = JSON.stringify(home.blocks);
    expect(shown).not.toContain('&amp;lt;');
    expect(shown).toContain('&lt;script&gt; &amp; *bold* _it_ ~s~ `code` @joe @here');
    expect(shown).not.toMatch(/<!here>|<@U123/);
  });

  test('a chosen suggestion with a 40,000-character answer is split like any answer', async () => {
    const msgs = await chooseSuggestion(deps(), 'T1', { t: 'T1', id: 'policy', q: QUESTIONS.emoji, u: 'U1' });
    expect(msgs.length).toBeGreaterThan(1);
    msgs.forEach((m, i) => expectValid(m, `choice part ${i}`));
  });
});

describe('text helpers', () => {
  test('cuts never split a grapheme, an entity or markup', () => {
    expect(truncate(`ab${FAMILY}`, 8)).toBe('ab…');
    expect(truncate(`${FLAG}${FLAG}${FLAG}`, 9)).toBe(`${FLAG}${FLAG}…`);
    expect(truncate(`x${FLAG.repeat(40)}`, 75)).toMatch(/^x(🇯🇵)+…$/);
    expect(truncate('a &amp; b', 5)).toBe('a…');
    expect(truncate('x <https://example.com|here> y', 12)).toBe('x…');
    const s = `${'a'.repeat(10)}&lt;`;
    expect(safeCut(s, 12)).toBe(10);
    expect(splitText('one two three four', 9)).toEqual(['one two', 'three', 'four']);
    expect(splitText('&amp;'.repeat(3), 7)).toEqual(['&amp;', '&amp;', '&amp;']);
  });

  test('FAQ text keeps its links and references, loses broadcasts, and is escaped once', () => {
    expect(authorMrkdwn('Go to <https://x.example/a?b=1&c=2|terms & conditions> > & pay')).toBe('Go to <https://x.example/a?b=1&c=2|terms &amp; conditions> &gt; &amp; pay');
    expect(authorMrkdwn('Ask <@U12AB> in <#C1|help> or <mailto:a@b.co>')).toBe('Ask <@U12AB> in <#C1|help> or <mailto:a@b.co>');
    expect(authorMrkdwn('<!here> <!channel|channel> <!everyone> <!subteam^S1|@ops> hi')).toBe('    hi');
    expect(authorMrkdwn('1 < 2 & 3 > 2')).toBe('1 &lt; 2 &amp; 3 &gt; 2');
    expect(authorMrkdwn('<!date^1392734382^{date}|Feb 18>')).toBe('Feb 18');
  });

  test('a person’s Slack text becomes readable text', () => {
    expect(fromSlackText('hi <@U1|joe> in <#C1|general> see <https://a.b|link> &lt;3 &amp;amp;')).toBe('hi @joe in #general see link <3 &amp;');
    expect(fromSlackText('<!here> <!subteam^S1|@ops> <mailto:a@b.c>')).toBe('@here @ops a@b.c');
  });

  test('fitList keeps room for its "…and N more" line', () => {
    const out = fitList(Array.from({ length: 50 }, () => 'x'.repeat(100)), 1000, 300);
    expect(out.length).toBeLessThanOrEqual(1000);
    expect(out).toMatch(/\n…and \d+ more$/);
  });
});

describe('hand-off payloads stay within Slack\'s limits whatever people wrote', () => {
  const longAnswer = `${CJK}${QUOTES}${FAMILY.repeat(500)} <https://shop.example/x|a link> <!channel>`.repeat(3).slice(0, 40_000);
  const handoff = (question: string, i = 1): Handoff => ({
    key: `k${i}`, number: i, tenant: 'T1', question, normalized: question.toLowerCase(), reason: 'unanswered',
    tried: [0, 1, 2, 3, 4].map((j) => ({ entryId: `entry-${'x'.repeat(300)}-${j}`, question: question.slice(0, 3000), similarity: 0.5 })),
    askers: Array.from({ length: 50 }, (_, j) => ({ via: 'slack' as const, user: `U${j}`, channel: 'C1', threadTs: '1.1', permalink: `https://kvcache-test.slack.com/archives/C1/p${j}`, at: 0 })),
    asked: 999, status: 'open', openedAt: 0,
  });

  test.each(Object.entries(QUESTIONS))('%s: the support post, its closed form, the modal, the list and the App Home', (_kind, question) => {
    const h = handoff(question);
    expect(validateMessage(supportPost(h))).toBeNull();
    for (const status of ['answered', 'dismissed'] as const) {
      const closed = supportClosed({ ...h, status, answer: longAnswer, closedBy: 'USUP', entryId: 't-1', linkedTo: 'x'.repeat(500) }, 50);
      expect(validateMessage(closed)).toBeNull();
    }
    const entries = Array.from({ length: 150 }, (_, i) => ({ id: `e${i}-${'y'.repeat(i === 3 ? 400 : 3)}`, question: `${question}${i}` }));
    for (const mode of ['answer', 'link'] as const) {
      expect(validateModal(answerModal(h, entries, { t: 'T1', h: h.key, mode, c: 'C1', ts: '1.1' }))).toBeNull();
      expect(validateModal(answerModal(h, [], { t: 'T1', h: h.key, mode }))).toBeNull();
    }
    const many = Array.from({ length: 30 }, (_, i) => handoff(question, i + 1));
    expect(validateMessage(handoffList(many, 3_600_000))).toBeNull();
    expect(validateBlocks(homeView(null, handoffHomeBlocks(many, 0)).blocks, 'home')).toBeNull();
    expect(validateMessage({ text: 'x', blocks: [{ type: 'actions', elements: [requestButton(buttonValue({ t: 'T1', id: 'a', q: question, u: 'U1', a: 'T1' })), noneButton(buttonValue({ t: 'T1', id: 'a', q: question }))] }] })).toBeNull();
  });
});
