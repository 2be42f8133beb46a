/**
 * `kvcache chat`: a console conversation through the same pipeline as Slack (like `rasa shell`), for trying the
 * bot locally. Works on a terminal and on piped input, one question a line.
 */
import readline from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { App } from '../app';
import { KvcacheError } from '../errors';
import { formatReport } from '../core/report';
import type { AnswerResult, Suggestion } from '../core/types';
import { personRequest, shouldHandOff, triedFor, type Handoff } from '../handoff/handoffs';

export interface ChatOptions {
  tenant: string;
  input: Readable;
  output: Writable;
}

const CONTEXT: Record<AnswerResult['source'], string> = {
  exact: 'from the FAQ, exact match',
  normalized: 'from the FAQ, same question in other words or formatting',
  semantic: 'from the FAQ, similar question',
  generated: 'generated, may be imperfect',
  fallback: 'not answered, logged for the team',
};

export const CONSOLE_HANDOFF_REPLY = "I don't know the answer to this one yet, so I've passed your question to the support team.";

/** One line per open hand-off, for /handoffs and `kvcache handoffs`. */
export function handoffLines(list: Handoff[], now: number): string[] {
  if (list.length === 0) return ['no open hand-offs'];
  return list.map((h) => `#${h.number}  ${h.question}  (asked ${h.asked}×, waiting ${Math.max(0, Math.round((now - h.openedAt) / 60_000))} min${h.tried[0] ? `; nearest: ${h.tried[0].entryId} ${h.tried[0].similarity.toFixed(2)}` : ''})`);
}

export function describeResult(r: AnswerResult): string {
  const ctx =
    r.entrySource === 'generated' && r.source !== 'generated'
      ? 'generated earlier, may be imperfect'
      : r.entrySource === 'team'
        ? `answered by the support team${r.source === 'semantic' ? ', similar question' : ''}`
        : CONTEXT[r.source];
  const matched = r.matchedQuestion && r.matchedQuestion !== r.question ? `, matched "${r.matchedQuestion}"` : '';
  return `(${ctx}${matched}; ${r.latencyMs.toFixed(2)} ms)`;
}

export async function runChat(app: App, opts: ChatOptions): Promise<void> {
  const { tenant, output } = opts;
  const say = (s: string) => output.write(`${s}\n`);
  const counts = await app.cache.counts(tenant);
  say(`kvcache chat: team "${tenant}", ${counts.faq} FAQ entries, store ${app.store.location}`);
  say('Ask a question. Commands: /stats, /handoffs, /answer N <text>, /dismiss N, /help, /quit.');
  const rl = readline.createInterface({ input: opts.input, terminal: false });
  const prompt = () => output.write('you> ');
  // The last "did you mean" offer: a reply with its number picks that entry.
  let offer: { question: string; suggestions: Suggestion[] } | null = null;
  // Hand-offs this console asked: their answers are shown when they come (from here, the CLI or Slack).
  const waiting = new Map<string, string>();
  const checkAnswers = async () => {
    for (const [key, question] of waiting) {
      const h = await app.handoffs.get(tenant, key);
      if (!h || h.status === 'open') continue;
      waiting.delete(key);
      say(h.status === 'answered' ? `bot> The support team answered "${question}": ${h.answer ?? ''}` : `bot> The support team could not answer "${question}" here.`);
    }
  };
  const timer = setInterval(() => void checkAnswers().catch(() => undefined), 2000);
  timer.unref();
  const handOff = async (r: AnswerResult, reason: 'unanswered' | 'requested' | 'dismissed-suggestions') => {
    const opened = await app.handoffs.open(tenant, { question: r.question, reason, tried: await triedFor(app, tenant, r), asker: { via: 'console', user: 'console', at: app.clock.now() } });
    if (!opened) return false;
    waiting.set(opened.handoff.key, opened.handoff.question);
    say(`bot> ${CONSOLE_HANDOFF_REPLY}`);
    say(`     (hand-off #${opened.handoff.number}: answer it here with /answer ${opened.handoff.number} <text>, or kvcache answer ${opened.handoff.number} "…")`);
    return true;
  };
  prompt();
  for await (const line of rl) {
    const text = line.trim();
    if (text === '/quit' || text === '/exit') break;
    if (text === '') {
      prompt();
      continue;
    }
    const answerCmd = /^\/(answer|dismiss)\s+#?(\d+)\s*([\s\S]*)$/.exec(text);
    if (text === '/help') {
      say('Type a question and press Enter. /stats shows the cache statistics; /handoffs the questions handed to the team; /answer N <text> answers one; /dismiss N closes one as not for us; /quit leaves.');
    } else if (text === '/stats') {
      say(formatReport(await app.report(tenant)));
    } else if (text === '/handoffs') {
      for (const l of handoffLines(await app.handoffs.list(tenant), app.clock.now())) say(l);
    } else if (answerCmd) {
      const [, verb, n, body] = answerCmd;
      try {
        if (verb === 'dismiss') {
          const h = await app.handoffs.dismiss(tenant, Number(n), 'console');
          say(`closed hand-off #${h.number} as not for us`);
        } else {
          const { handoff, entry } = await app.handoffs.answer(tenant, Number(n), { answer: body ?? '', by: 'console' });
          say(`answered hand-off #${handoff.number}${entry ? ` and saved it as team entry ${entry.id}` : ''}; ${handoff.askers.length} ${handoff.askers.length === 1 ? 'asker' : 'askers'} will be told`);
        }
        await checkAnswers();
      } catch (err) {
        if (!(err instanceof KvcacheError)) throw err;
        say(`error: ${err.message}`);
      }
    } else if (offer && /^(0|none)$/i.test(text)) {
      // None of the suggestions fits: the team gets the question.
      const r = await app.answerer.ask(tenant, offer.question, { lookupOnly: true });
      offer = null;
      if (!(await handOff(r, 'dismissed-suggestions'))) say(`bot> ${app.config.fallbackAnswer}`);
    } else if (offer && /^\d+$/.test(text) && Number(text) >= 1 && Number(text) <= offer.suggestions.length) {
      const s = offer.suggestions[Number(text) - 1] as Suggestion;
      const entry = await app.review.choose(tenant, offer.question, s);
      offer = null;
      say(entry ? `bot> ${entry.answer}` : 'bot> That answer was just removed; please ask again.');
      if (entry) say(`     (from the FAQ: "${entry.question}"; your wording was sent to the team for review)`);
    } else {
      offer = null;
      try {
        const requested = personRequest(text);
        if (requested === '') {
          say('bot> Tell me your question along with it, for example "talk to a person: my parcel has not arrived".');
          prompt();
          continue;
        }
        const r = await app.answerer.ask(tenant, requested ?? text, requested !== null ? { lookupOnly: true } : {});
        if ((requested !== null || shouldHandOff(r, app.config.busyAnswer)) && (await handOff(r, requested !== null ? 'requested' : 'unanswered'))) {
          prompt();
          continue;
        }
        say(`bot> ${r.answer}`);
        if (r.suggestions && r.suggestions.length > 0) {
          offer = { question: r.question, suggestions: r.suggestions };
          say(`     (type a number to pick one, 0 if none fits (the team gets your question), or ask again in other words)`);
        } else {
          say(`     ${describeResult(r)}`);
        }
      } catch (err) {
        if (!(err instanceof KvcacheError)) throw err;
        say(`bot> Sorry: ${err.message}`);
      }
    }
    prompt();
  }
  clearInterval(timer);
  await checkAnswers().catch(() => undefined);
  rl.close();
  output.write('\n');
}
