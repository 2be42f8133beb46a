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

export function describeResult(r: AnswerResult): string {
  const ctx = r.entrySource === 'generated' && r.source !== 'generated' ? 'generated earlier, may be imperfect' : CONTEXT[r.source];
  const matched = r.matchedQuestion && r.matchedQuestion !== r.question ? `, matched "${r.matchedQuestion}"` : '';
  return `(${ctx}${matched}; ${r.latencyMs.toFixed(2)} ms)`;
}

export async function runChat(app: App, opts: ChatOptions): Promise<void> {
  const { tenant, output } = opts;
  const say = (s: string) => output.write(`${s}\n`);
  const counts = await app.cache.counts(tenant);
  say(`kvcache chat: team "${tenant}", ${counts.faq} FAQ entries, store ${app.store.location}`);
  say('Ask a question. Commands: /stats, /help, /quit.');
  const rl = readline.createInterface({ input: opts.input, terminal: false });
  const prompt = () => output.write('you> ');
  // The last "did you mean" offer: a reply with its number picks that entry.
  let offer: { question: string; suggestions: Suggestion[] } | null = null;
  prompt();
  for await (const line of rl) {
    const text = line.trim();
    if (text === '/quit' || text === '/exit') break;
    if (text === '') {
      prompt();
      continue;
    }
    if (text === '/help') {
      say('Type a question and press Enter. /stats shows the cache statistics; /quit leaves.');
    } else if (text === '/stats') {
      say(formatReport(await app.report(tenant)));
    } else if (offer && /^\d+$/.test(text) && Number(text) >= 1 && Number(text) <= offer.suggestions.length) {
      const s = offer.suggestions[Number(text) - 1] as Suggestion;
      const entry = await app.review.choose(tenant, offer.question, s);
      offer = null;
      say(entry ? `bot> ${entry.answer}` : 'bot> That answer was just removed; please ask again.');
      if (entry) say(`     (from the FAQ: "${entry.question}"; your wording was sent to the team for review)`);
    } else {
      offer = null;
      try {
        const r = await app.answerer.ask(tenant, text);
        say(`bot> ${r.answer}`);
        if (r.suggestions && r.suggestions.length > 0) {
          offer = { question: r.question, suggestions: r.suggestions };
          say(`     (type a number to pick one, or ask again in other words)`);
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
  rl.close();
  output.write('\n');
}
