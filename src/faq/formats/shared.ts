/**
 * What every FAQ format reader produces, and the helpers they share. Each reader (yaml.ts, csv.ts, tsv.ts)
 * turns file text into RawEntry values (strings plus the line each came from) and reports format-level
 * problems (syntax, wrong types, unknown fields, bad headers). Content rules shared by every format (ids,
 * emptiness, limits, de-duplication) live in ../parse.ts.
 */
import type { FaqProblem } from '../../errors';

/** A string value and where it came from. `item` is the 1-based position inside a list field. */
export interface Located {
  value: string;
  line: number;
  field: string;
  item?: number;
}

/**
 * One entry as read from a file, before the shared checks. A required field is `undefined` when the entry
 * does not have it and `null` when it has it but the reader already reported it as unusable.
 */
export interface RawEntry {
  line: number;
  id: Located | null | undefined;
  question: Located | null | undefined;
  answer: Located | null | undefined;
  alternates: Located[];
  tags: Located[];
  /** True when the id was computed from the question text (TSV without a QnaId column). */
  idDerived?: boolean;
}

export interface ReaderResult {
  entries: RawEntry[];
  problems: FaqProblem[];
}

export const ENTRY_FIELDS = ['id', 'question', 'answer', 'alternates', 'tags'] as const;

function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

/** The known name closest to `name` (case-insensitively), when it is close enough to be a likely typo. */
export function closestName(name: string, known: readonly string[]): string | undefined {
  const lower = name.trim().toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = levenshtein(lower, candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  const allowed = Math.max(2, Math.floor(lower.length / 3));
  return best !== undefined && bestDistance <= allowed ? best : undefined;
}

/** The message for a name not in `known`, with a did-you-mean hint when one is close. */
export function unknownName(name: string, known: readonly string[], what: string): string {
  const guess = closestName(name, known);
  const hint = guess === undefined ? '' : ` did you mean "${guess}"?`;
  return `is not a known ${what};${hint} known ${what}s: ${known.join(', ')}`;
}
