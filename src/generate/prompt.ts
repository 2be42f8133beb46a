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
