/** Reader for QnA Maker / Azure custom question answering TSV exports. */
import { createHash } from 'node:crypto';
import type { FaqProblem } from '../../errors';
import { unknownName } from './shared';
import type { Located, RawEntry, ReaderResult } from './shared';

/** Columns of a QnA Maker / Azure custom question answering TSV export (canonical spelling). */
const TSV_COLUMNS = [
  'Question',
  'Answer',
  'Source',
  'Metadata',
  'SuggestedQuestions',
  'IsContextOnly',
  'Prompts',
  'QnaId',
  'SourceDisplayName',
] as const;
type TsvColumn = (typeof TSV_COLUMNS)[number];

/** `qna-` + the first 12 hex digits of sha256 of the trimmed, lower-cased question. */
export function derivedQnaId(question: string): string {
  return 'qna-' + createHash('sha256').update(question.trim().toLowerCase(), 'utf8').digest('hex').slice(0, 12);
}

interface TsvGroup {
  entry: RawEntry;
  answer: string;
  answerLine: number;
  tagSet: Set<string>;
}

export function readTsv(text: string, file: string): ReaderResult {
  const problems: FaqProblem[] = [];
  const entries: RawEntry[] = [];
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  while (lines.length > 0 && (lines[lines.length - 1] ?? '').trim() === '') lines.pop();
  const headerText = lines[0];
  if (headerText === undefined) return { entries, problems };

  const headerCells = headerText.split('\t').map((c) => c.trim());
  const columns = new Map<TsvColumn, number>();
  let headerOk = true;
  headerCells.forEach((name, index) => {
    const known = TSV_COLUMNS.find((c) => c.toLowerCase() === name.toLowerCase());
    if (known === undefined) {
      problems.push({ file, line: 1, field: name || `column ${index + 1}`, message: unknownName(name, TSV_COLUMNS, 'column') });
    } else if (columns.has(known)) {
      problems.push({ file, line: 1, field: known, message: 'column appears twice in the header; keep only one' });
      headerOk = false;
    } else {
      columns.set(known, index);
    }
  });
  if (!columns.has('Question') && !columns.has('Answer')) {
    return {
      entries,
      problems: [
        {
          file,
          line: 1,
          field: null,
          message: 'the first line must be the header row "Question<TAB>Answer<TAB>Source<TAB>Metadata" (a QnA Maker export)',
        },
      ],
    };
  }
  for (const required of ['Question', 'Answer'] as const) {
    if (!columns.has(required)) {
      problems.push({ file, line: 1, field: required, message: 'column is missing from the header row; add it' });
      headerOk = false;
    }
  }
  if (!headerOk) return { entries, problems };

  const groups = new Map<string, TsvGroup>();
  lines.slice(1).forEach((rowText, index) => {
    const line = index + 2;
    if (rowText.trim() === '') return;
    const cells = rowText.split('\t');
    if (cells.length !== headerCells.length) {
      problems.push({
        file,
        line,
        field: null,
        message: `has ${cells.length} tab-separated fields but the header has ${headerCells.length}; fields cannot contain tabs, and every row needs one field per column`,
      });
      return;
    }
    const get = (column: TsvColumn): string => {
      const i = columns.get(column);
      return i === undefined ? '' : (cells[i] ?? '').trim();
    };
    const question = get('Question');
    const answer = get('Answer').replace(/\\r\\n|\\n/g, '\n').trim();
    if (question === '') {
      problems.push({ file, line, field: 'Question', message: 'is empty; write the question or delete the row' });
    }
    if (answer === '') {
      problems.push({ file, line, field: 'Answer', message: 'is empty; write the answer text or delete the row' });
    }
    if (question === '' || answer === '') return;

    const qnaId = get('QnaId');
    const key = qnaId !== '' ? `id\u0000${qnaId}` : `text\u0000${answer}\u0000${get('Source')}`;
    const tags = get('Metadata')
      .split('|')
      .map((pair) => {
        const colon = pair.indexOf(':');
        return colon < 0 ? pair.trim() : `${pair.slice(0, colon).trim()}:${pair.slice(colon + 1).trim()}`;
      })
      .filter((t) => t !== '' && t !== ':');

    let group = groups.get(key);
    if (group === undefined) {
      const id: Located =
        qnaId !== ''
          ? { value: `qna-${qnaId}`, line, field: 'QnaId' }
          : { value: derivedQnaId(question), line, field: 'Question' };
      group = {
        entry: {
          line,
          id,
          question: { value: question, line, field: 'Question' },
          answer: { value: answer, line, field: 'Answer' },
          alternates: [],
          tags: [],
          idDerived: qnaId === '',
        },
        answer,
        answerLine: line,
        tagSet: new Set(),
      };
      groups.set(key, group);
      entries.push(group.entry);
    } else {
      if (answer !== group.answer) {
        problems.push({
          file,
          line,
          field: 'Answer',
          message: `differs from the answer on line ${group.answerLine}, which has the same QnaId ${qnaId}; rows with the same QnaId must have the same answer`,
        });
        return;
      }
      group.entry.alternates.push({ value: question, line, field: 'Question' });
    }
    for (const tag of tags) {
      if (!group.tagSet.has(tag)) {
        group.tagSet.add(tag);
        group.entry.tags.push({ value: tag, line, field: 'Metadata' });
      }
    }
  });
  return { entries, problems };
}
