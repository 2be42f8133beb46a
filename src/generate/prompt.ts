/**
 * The model's input string. It must be byte-for-byte what tools/model/format.py built in training:
 *   question: <q> context: [1] <faq question> => <faq answer> [2] ...
 * Every piece is whitespace-normalized (runs of white space become one space, ends trimmed).
 */
const WS = /\s+/g;
const norm = (s: string) => s.replace(WS, ' ').trim();

export function buildPrompt(question: string, entries: ReadonlyArray<{ question: string; answer: string }>): string {
  const parts = ['question:', norm(question), 'context:'];
  entries.forEach((e, i) => parts.push(`[${i + 1}] ${norm(e.question)} => ${norm(e.answer)}`));
  return parts.join(' ');
}

/** What a chat model answers when the entries do not answer the question: the generator abstains. */
export const ABSTAIN = 'NO_ANSWER';

/**
 * The instructions every question of every team shares, first, so that an engine's prefix cache (vLLM's
 * automatic prefix caching, llama.cpp's cache_prompt) computes their keys and values once.
 */
export const SYSTEM_PROMPT = [
  'You are a customer-service assistant. Answer the customer using only the numbered FAQ entries in their message.',
  'Copy every fact (numbers, prices, dates, times, links, e-mail addresses, phone numbers, codes) exactly as the entries write it, and add no fact of your own.',
  `If the entries do not answer the question, reply with exactly ${ABSTAIN} and nothing else.`,
  "Reply in the customer's language, in at most three sentences, without mentioning the entries.",
].join(' ');

/** The chat form: the shared instructions, then the entries and the question. */
export function buildChat(question: string, entries: ReadonlyArray<{ question: string; answer: string }>): { system: string; user: string } {
  const numbered = entries.map((e, i) => `[${i + 1}] Q: ${norm(e.question)}\nA: ${norm(e.answer)}`).join('\n');
  return { system: SYSTEM_PROMPT, user: `FAQ entries:\n${numbered}\n\nCustomer question: ${norm(question)}` };
}
