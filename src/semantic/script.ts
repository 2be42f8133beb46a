/**
 * Which texts the embedding model can read. all-MiniLM-L6-v2's vocabulary is English word pieces: Chinese,
 * Japanese and Korean text becomes mostly [UNK] tokens, and its vectors say nothing about meaning (bench:semantic
 * measures it). Such questions skip the paraphrase layer (their exact and normalized keys still work), and such
 * phrasings stay out of the index, where they would sit near everything.
 */
const CJK = /[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]/gu;
const LETTER = /\p{L}/gu;

/** Share of letters that are CJK (0 when there are none). */
export function cjkShare(text: string): number {
  const letters = text.match(LETTER)?.length ?? 0;
  if (letters === 0) return 0;
  return (text.match(CJK)?.length ?? 0) / letters;
}

export const embeddable = (text: string): boolean => cjkShare(text) < 0.3;
