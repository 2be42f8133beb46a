import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FaqValidationError, KvcacheError, formatProblem } from '../src/errors';
import type { FaqProblem } from '../src/errors';
import { detectFormat, loadFaqFiles, parseFaqText } from '../src/faq/parse';
import type { FaqRecord } from '../src/faq/parse';

let dir: string;
let counter = 0;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvcache-faq-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Writes a file into its own subdirectory of the temp dir, so names can repeat across tests. */
function write(name: string, content: string | Buffer): string {
  const sub = path.join(dir, String(++counter));
  fs.mkdirSync(sub);
  const file = path.join(sub, name);
  fs.writeFileSync(file, content);
  return file;
}

const lines = (...rows: string[]): string => rows.join('\n') + '\n';

async function problemsOf(paths: string[]): Promise<FaqProblem[]> {
  try {
    await loadFaqFiles(paths);
  } catch (err) {
    expect(err).toBeInstanceOf(FaqValidationError);
    return (err as FaqValidationError).problems;
  }
  throw new Error('expected loadFaqFiles to throw a FaqValidationError');
}

/** The single problem for a file, as [line, field, message]. */
async function onlyProblem(file: string): Promise<[number | null, string | null, string]> {
  const problems = await problemsOf([file]);
  expect(problems).toHaveLength(1);
  const p = problems[0]!;
  expect(p.file).toBe(file);
  return [p.line, p.field, p.message];
}

const where = (problems: FaqProblem[]): Array<[string, number | null, string | null]> =>
  problems.map((p) => [path.basename(p.file), p.line, p.field]);

// ---------------------------------------------------------------------------------------------- YAML

describe('YAML', () => {
  test('parses a list of entries with alternates, tags, numeric ids and entry lines', async () => {
    const file = write(
      'faq.yaml',
      lines(
        '# comment',
        '- id: returns',
        '  question: "  What is your return policy?  "',
        '  answer: |',
        '    30 days.',
        '    Unused items only.',
        '  alternates:',
        '    - Can I return something?',
        '    - " How long do I have to return? "',
        '    - What is your return policy?', // same as the question: dropped
        '    - Can I return something?', // repeat: dropped
        '  tags: [returns, policy]',
        '',
        '- id: 42',
        '  question: Do you ship to Canada?',
        '  answer: Yes.',
      ),
    );
    const records = await loadFaqFiles([file]);
    expect(records).toEqual<FaqRecord[]>([
      {
        id: 'returns',
        question: 'What is your return policy?',
        answer: '30 days.\nUnused items only.',
        alternates: ['Can I return something?', 'How long do I have to return?'],
        tags: ['returns', 'policy'],
        file,
        line: 2,
      },
      { id: '42', question: 'Do you ship to Canada?', answer: 'Yes.', alternates: [], tags: [], file, line: 14 },
    ]);
  });

  test('accepts a top-level {entries: [...]} mapping and .yml', async () => {
    const file = write('faq.yml', lines('entries:', '  - id: a', '    question: Q?', '    answer: A.'));
    const records = await loadFaqFiles([file]);
    expect(records.map((r) => [r.id, r.line])).toEqual([['a', 2]]);
  });

  test('reports every entry problem with the line of the bad field, or of the entry when a field is missing', async () => {
    const file = write(
      'bad.yaml',
      lines(
        '- id: ok-1', // 1
        '  question: Fine?',
        '  answer: Fine.',
        '- id: no answer here', // 4: invalid id
        '  question: Where?',
        '  answer: "   "', // 6: empty after trim
        '- question: Missing id?', // 7: id missing -> entry line
        '  answer: Yes.',
        '- id: list-question', // 9
        '  question: [a, b]', // 10: not text
        '  answer: 42', // 11: number, not text
        '  alternates: just one string', // 12: not a list
        '- id: bad-items', // 13
        '  question: Q?',
        '  answer: A.',
        '  alternates:',
        '    - good',
        '    -', // 18: empty item
        '    - 7', // 19: number item
        '  tags: ["", x]', // 20: empty tag
        '- id: no-question', // 21: question missing
        '  answer: A.',
      ),
    );
    const problems = await problemsOf([file]);
    expect(where(problems)).toEqual([
      ['bad.yaml', 4, 'id'],
      ['bad.yaml', 6, 'answer'],
      ['bad.yaml', 7, 'id'],
      ['bad.yaml', 10, 'question'],
      ['bad.yaml', 11, 'answer'],
      ['bad.yaml', 12, 'alternates'],
      ['bad.yaml', 18, 'alternates'],
      ['bad.yaml', 19, 'alternates'],
      ['bad.yaml', 20, 'tags'],
      ['bad.yaml', 21, 'question'],
    ]);
    const text = problems.map(formatProblem);
    expect(text[0]).toContain('"no answer here" is not a valid id; ids must match ^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$');
    expect(text[1]).toBe(`${file}:6: field "answer": is empty; write the answer text or remove the entry`);
    expect(text[2]).toMatch(/is missing; add a unique id/);
    expect(text[3]).toMatch(/is a list, not text/);
    expect(text[4]).toMatch(/is a number, not text; put it in quotes/);
    expect(text[5]).toMatch(/must be a list of text items/);
    expect(text[6]).toMatch(/item 2 is empty/);
    expect(text[7]).toMatch(/item 3 is a number, not text/);
    expect(text[8]).toMatch(/item 1 is empty/);
    expect(text[9]).toMatch(/field "question": is missing; add the question/);
  });

  test('unknown field is an error with "did you mean"', async () => {
    const file = write(
      'typo.yaml',
      lines('- id: a', '  question: Q?', '  answer: A.', '  alternatives:', '    - other way', '  Tags: [x]', '  colour: red'),
    );
    const problems = await problemsOf([file]);
    expect(where(problems)).toEqual([
      ['typo.yaml', 4, 'alternatives'],
      ['typo.yaml', 6, 'Tags'],
      ['typo.yaml', 7, 'colour'],
    ]);
    expect(problems[0]!.message).toContain('did you mean "alternates"?');
    expect(problems[1]!.message).toContain('did you mean "tags"?');
    expect(problems[2]!.message).not.toContain('did you mean');
    expect(problems[2]!.message).toContain('id, question, answer, alternates, tags');
  });

  test('syntax error names the line and column the parser reports', async () => {
    const file = write('syntax.yaml', lines('- id: a', '  question: What is it? See: here', '  answer: A.'));
    const [line, field, message] = await onlyProblem(file);
    expect(line).toBe(2);
    expect(field).toBeNull();
    expect(message).toMatch(/^YAML syntax error at column \d+: .*; check the indentation there, and put text containing ": "/);
  });

  test('duplicate key in one entry names the key and its line', async () => {
    const file = write('dupkey.yaml', lines('- id: a', '  question: Q?', '  answer: A.', '  question: Again?'));
    const [line, , message] = await onlyProblem(file);
    expect(line).toBe(4);
    expect(message).toBe('the key "question" appears twice in the same mapping; keep only one');
  });

  test('a single entry at the top level, a scalar top level, and a non-mapping entry are explained', async () => {
    const single = write('single.yaml', lines('id: a', 'question: Q?', 'answer: A.'));
    expect(await onlyProblem(single)).toEqual([1, null, expect.stringMatching(/single entry, not a list/)]);
    const scalar = write('scalar.yaml', 'just some text\n');
    expect(await onlyProblem(scalar)).toEqual([1, null, expect.stringMatching(/top level must be a list of entries/)]);
    const item = write('item.yaml', lines('- id: a', '  question: Q?', '  answer: A.', '- just text'));
    expect(await onlyProblem(item)).toEqual([4, null, expect.stringMatching(/^entry 2 is text, not a mapping; each entry needs the fields id, question and answer$/)]);
  });

  test('empty file, comment-only file and empty list: "no FAQ entries in FILE"', async () => {
    for (const content of ['', '# nothing yet\n', '[]\n', 'entries: []\n', 'entries:\n']) {
      const file = write('empty.yaml', content);
      const [line, field, message] = await onlyProblem(file);
      expect([line, field]).toEqual([null, null]);
      expect(message).toBe(`no FAQ entries in ${file}; add at least one entry`);
    }
  });
});

// ---------------------------------------------------------------------------------------------- JSON

describe('JSON', () => {
  test('parses pretty-printed JSON with entry lines, numeric ids, alternates and tags', async () => {
    const data = [
      { id: 'shipping', question: 'How much is shipping?', answer: 'Free over $75.', alternates: ['shipping cost'], tags: ['shipping'] },
      { id: 7, question: 'Gift cards?', answer: 'Yes.' },
    ];
    const file = write('faq.json', JSON.stringify(data, null, 2));
    const records = await loadFaqFiles([file]);
    // Line 1 is "[", the first object opens on line 2; the first object takes 11 lines (2-12).
    expect(records.map((r) => [r.id, r.line, r.alternates, r.tags])).toEqual([
      ['shipping', 2, ['shipping cost'], ['shipping']],
      ['7', 13, [], []],
    ]);
  });

  test('accepts {"entries": [...]} and tab indentation', async () => {
    const file = write('faq.json', '{\n\t"entries": [\n\t\t{"id": "a", "question": "Q?", "answer": "A."}\n\t]\n}\n');
    expect((await loadFaqFiles([file])).map((r) => [r.id, r.line])).toEqual([['a', 3]]);
  });

  test('syntax error names the line and column', async () => {
    const file = write('broken.json', lines('[', '  {"id": "a", "question": "Q?", "answer": "A."},', '  {"id": "b" "question": "Q?"}', ']'));
    const [line, field, message] = await onlyProblem(file);
    expect([line, field]).toEqual([3, null]);
    expect(message).toMatch(/^JSON syntax error at column 14: Expected ',' or '}' after property value; fix the JSON there/);
  });

  test('field problems name the line of the field', async () => {
    const file = write('bad.json', lines('[', '  {', '    "id": "a",', '    "question": "",', '    "answer": "A.",', '    "alternatives": ["x"]', '  }', ']'));
    const problems = await problemsOf([file]);
    expect(where(problems)).toEqual([
      ['bad.json', 4, 'question'],
      ['bad.json', 6, 'alternatives'],
    ]);
    expect(problems[1]!.message).toContain('did you mean "alternates"?');
  });
});

// ----------------------------------------------------------------------------------------------- CSV

describe('CSV', () => {
  test('header in any order and case; quoted commas and newlines; | lists; line = first line of the record', async () => {
    const file = write(
      'faq.csv',
      lines(
        'Question,ID,Answer,Tags,Alternates', // 1
        '"Do you ship to Canada, Mexico or the UK?",intl,"Yes, to all three.",shipping|international,ship abroad? | "international shipping" |', // 2
        'How do returns work?,returns,"Step 1: print the label.', // 3
        'Step 2: drop it off.', // 4
        'He said ""thanks"".",returns|,', // 5
        '', // 6
        'Hours?,hours,9 to 5,,', // 7
        'Is it "waterproof"?,waterproof,Yes.,,', // 8: bare quotes inside an unquoted field are literal
      ),
    );
    const records = await loadFaqFiles([file]);
    expect(records).toEqual<FaqRecord[]>([
      {
        id: 'intl',
        question: 'Do you ship to Canada, Mexico or the UK?',
        answer: 'Yes, to all three.',
        alternates: ['ship abroad?', '"international shipping"'],
        tags: ['shipping', 'international'],
        file,
        line: 2,
      },
      {
        id: 'returns',
        question: 'How do returns work?',
        answer: 'Step 1: print the label.\nStep 2: drop it off.\nHe said "thanks".',
        alternates: [],
        tags: ['returns'],
        file,
        line: 3,
      },
      { id: 'hours', question: 'Hours?', answer: '9 to 5', alternates: [], tags: [], file, line: 7 },
      { id: 'waterproof', question: 'Is it "waterproof"?', answer: 'Yes.', alternates: [], tags: [], file, line: 8 },
    ]);
  });

  test('CRLF line endings keep line numbers right', async () => {
    const file = write('crlf.csv', 'id,question,answer\r\na,"Q\r\nstill Q",A\r\nb,Q2,A2\r\n');
    const records = await loadFaqFiles([file]);
    expect(records.map((r) => [r.id, r.line, r.question])).toEqual([
      ['a', 2, 'Q\nstill Q'],
      ['b', 4, 'Q2'],
    ]);
  });

  test('optional columns can be left out; numeric ids are strings', async () => {
    const file = write('min.csv', lines('id,question,answer', '1001,Q?,A.'));
    expect(await loadFaqFiles([file])).toEqual([{ id: '1001', question: 'Q?', answer: 'A.', alternates: [], tags: [], file, line: 2 }]);
  });

  test('missing header row', async () => {
    const file = write('nohead.csv', lines('returns,What is your return policy?,30 days.'));
    const [line, field, message] = await onlyProblem(file);
    expect([line, field]).toEqual([1, null]);
    expect(message).toMatch(/first line must be a header row naming the columns, e\.g\. "id,question,answer,alternates,tags"/);
  });

  test('unknown and missing columns', async () => {
    const file = write('cols.csv', lines('id,question,alternatives', 'a,Q?,x'));
    const problems = await problemsOf([file]);
    expect(where(problems)).toEqual([
      ['cols.csv', 1, 'alternatives'],
      ['cols.csv', 1, 'answer'],
    ]);
    expect(problems[0]!.message).toContain('did you mean "alternates"?');
    expect(problems[1]!.message).toBe('column is missing from the header row; add it');
  });

  test('wrong column count and row problems name the line', async () => {
    const file = write(
      'rows.csv',
      lines(
        'id,question,answer', // 1
        'a,Q?,Yes, we do', // 2: 4 fields
        'b,Q?', // 3: 2 fields
        'c,,A.', // 4: empty question
        'bad id,Q?,A.', // 5
        '"d","multi', // 6
        'line",', // 7: empty answer, record starts on 6
      ),
    );
    const problems = await problemsOf([file]);
    expect(where(problems)).toEqual([
      ['rows.csv', 2, null],
      ['rows.csv', 3, null],
      ['rows.csv', 4, 'question'],
      ['rows.csv', 5, 'id'],
      ['rows.csv', 6, 'answer'],
    ]);
    expect(problems[0]!.message).toBe('has 4 fields but the header has 3; put double quotes around text that contains commas');
    expect(problems[1]!.message).toMatch(/^has 2 fields but the header has 3/);
  });

  test('unclosed quote names the line where the quoted field starts', async () => {
    const file = write('quote.csv', lines('id,question,answer', 'a,Q?,A.', 'b,Q?,"never closed', 'c,Q?,A.', 'd,Q?,A.'));
    expect(await onlyProblem(file)).toEqual([3, null, expect.stringMatching(/quoted field starting on line 3 is never closed/)]);
  });

  test('header only: no FAQ entries', async () => {
    const file = write('head.csv', 'id,question,answer\n');
    expect(await onlyProblem(file)).toEqual([null, null, `no FAQ entries in ${file}; add at least one entry`]);
  });
});

// ----------------------------------------------------------------------------------------------- TSV

const sha12 = (q: string): string => createHash('sha256').update(q.trim().toLowerCase()).digest('hex').slice(0, 12);

describe('TSV (QnA Maker export)', () => {
  const qna = lines(
    'Question\tAnswer\tSource\tMetadata\tSuggestedQuestions\tIsContextOnly\tPrompts', // 1
    'How do I reset my password?\tClick "Forgot password".\\nCheck your email.\tEditorial\tcategory:accounts|team:web\t[]\tfalse\t[]', // 2
    'forgot password\tClick "Forgot password".\\nCheck your email.\tEditorial\tcategory:accounts\t[]\tfalse\t[]', // 3
    '', // 4
    'What are your hours?\t9 to 5.\tEditorial\t\t[]\tfalse\t[]', // 5
    'I cannot log in\tClick "Forgot password".\\nCheck your email.\tEditorial\t\t[]\tfalse\t[]\r', // 6: CRLF
    'opening hours\t9 to 5.\thours.docx\t\t[]\tfalse\t[]', // 7: same answer, different source
  );

  test('groups rows with the same Answer+Source into one entry with alternates; metadata becomes tags', async () => {
    const file = write('kb.tsv', qna);
    const records = await loadFaqFiles([file]);
    expect(records).toEqual<FaqRecord[]>([
      {
        id: `qna-${sha12('How do I reset my password?')}`,
        question: 'How do I reset my password?',
        answer: 'Click "Forgot password".\nCheck your email.',
        alternates: ['forgot password', 'I cannot log in'],
        tags: ['category:accounts', 'team:web'],
        file,
        line: 2,
      },
      { id: `qna-${sha12('what are your hours?')}`, question: 'What are your hours?', answer: '9 to 5.', alternates: [], tags: [], file, line: 5 },
      { id: `qna-${sha12('opening hours')}`, question: 'opening hours', answer: '9 to 5.', alternates: [], tags: [], file, line: 7 },
    ]);
  });

  test('derived ids are identical across two runs and two copies of the file', async () => {
    const first = await loadFaqFiles([write('kb.tsv', qna)]);
    const second = await loadFaqFiles([write('kb.tsv', qna)]);
    expect(first.map((r) => r.id)).toEqual(second.map((r) => r.id));
    expect(first[0]!.id).toMatch(/^qna-[0-9a-f]{12}$/);
  });

  test('rows with the same QnaId form one entry with id qna-<QnaId>', async () => {
    const file = write(
      'ids.tsv',
      lines(
        'QnaId\tquestion\tanswer\tsource\tmetadata', // lower-case header names are accepted
        '12\tWhere is my order?\tSee My Orders.\tfaq.docx\tcategory:orders',
        '13\tDo you ship abroad?\tYes.\tfaq.docx\t',
        '12\ttrack my order\tSee My Orders.\tEditorial\t',
      ),
    );
    const records = await loadFaqFiles([file]);
    expect(records.map((r) => [r.id, r.question, r.alternates, r.tags, r.line])).toEqual([
      ['qna-12', 'Where is my order?', ['track my order'], ['category:orders'], 2],
      ['qna-13', 'Do you ship abroad?', [], [], 3],
    ]);
  });

  test('row problems name the line and the column', async () => {
    const file = write(
      'bad.tsv',
      lines(
        'Question\tAnswer\tSource\tMetadata\tQnaId', // 1
        '\tAn answer.\tEditorial\t\t1', // 2: empty question
        'A question?\t\tEditorial\t\t2', // 3: empty answer
        'Too\tmany\ttabs\there\t3\textra', // 4
        'Same id?\tFirst answer.\tEditorial\t\t4', // 5
        'Same id again?\tA different answer.\tEditorial\t\t4', // 6
      ),
    );
    const problems = await problemsOf([file]);
    expect(where(problems)).toEqual([
      ['bad.tsv', 2, 'Question'],
      ['bad.tsv', 3, 'Answer'],
      ['bad.tsv', 4, null],
      ['bad.tsv', 6, 'Answer'],
    ]);
    expect(problems[0]!.message).toBe('is empty; write the question or delete the row');
    expect(problems[2]!.message).toMatch(/^has 6 tab-separated fields but the header has 5/);
    expect(problems[3]!.message).toMatch(/differs from the answer on line 5, which has the same QnaId 4/);
  });

  test('missing header, missing Answer column, unknown column', async () => {
    const none = write('nohead.tsv', lines('How?\tLike this.\tEditorial\t'));
    expect(await onlyProblem(none)).toEqual([1, null, expect.stringMatching(/header row "Question<TAB>Answer<TAB>Source<TAB>Metadata"/)]);

    const cols = write('cols.tsv', lines('Question\tSource\tMetdata', 'How?\tEditorial\t'));
    const problems = await problemsOf([cols]);
    expect(where(problems)).toEqual([
      ['cols.tsv', 1, 'Metdata'],
      ['cols.tsv', 1, 'Answer'],
    ]);
    expect(problems[0]!.message).toContain('did you mean "Metadata"?');
  });
});

// ------------------------------------------------------------------------------------- all formats

describe('limits', () => {
  test('question, alternate and answer length; alternates count', async () => {
    const long = 'q'.repeat(2001);
    const entries = [
      { id: 'long-question', question: long, answer: 'A.' },
      { id: 'long-answer', question: 'Q1?', answer: 'a'.repeat(40001) },
      { id: 'long-alternate', question: 'Q2?', answer: 'A.', alternates: ['fine', long] },
      { id: 'many-alternates', question: 'Q3?', answer: 'A.', alternates: Array.from({ length: 301 }, (_, i) => `way ${i}`) },
      { id: 'at-the-limits', question: 'q'.repeat(2000), answer: 'a'.repeat(40000), alternates: Array.from({ length: 300 }, (_, i) => `alt ${i}`) },
    ];
    // One entry per line, so entry N starts on line N + 1.
    const file = write('limits.json', '[\n' + entries.map((e) => JSON.stringify(e)).join(',\n') + '\n]\n');
    const problems = await problemsOf([file]);
    expect(where(problems)).toEqual([
      ['limits.json', 2, 'question'],
      ['limits.json', 3, 'answer'],
      ['limits.json', 4, 'alternates'],
      ['limits.json', 5, 'alternates'],
    ]);
    expect(problems[0]!.message).toBe('is 2001 characters long; the limit is 2000 — shorten it');
    expect(problems[1]!.message).toBe(
      "is 40001 characters long; the limit is 40000 — Slack's message limit; shorten it or split it into several entries",
    );
    expect(problems[2]!.message).toBe('item 2 is 2001 characters long; the limit is 2000 — shorten it');
    expect(problems[3]!.message).toMatch(/^has 301 alternates; the limit is 300 per entry/);
  });

  test('files over 50 MB are refused without being read', async () => {
    const file = write('huge.yaml', '');
    fs.truncateSync(file, 50 * 1024 * 1024 + 1); // sparse: cheap to create
    expect(await onlyProblem(file)).toEqual([null, null, expect.stringMatching(/^is 50\.0 MB; the limit is 50 MB per file — split it/)]);
  });
});

describe('encoding', () => {
  test('a UTF-8 BOM is stripped (YAML, CSV header, TSV header)', async () => {
    const yaml = write('bom.yaml', '\uFEFF- id: a\n  question: Q?\n  answer: A.\n');
    const csv = write('bom.csv', '\uFEFFid,question,answer\nb,Q?,A.\n');
    const tsv = write('bom.tsv', '\uFEFFQuestion\tAnswer\nQ?\tA.\n');
    const records = await loadFaqFiles([yaml, csv, tsv]);
    expect(records.map((r) => [r.id, r.line])).toEqual([
      ['a', 1],
      ['b', 2],
      [`qna-${sha12('Q?')}`, 2],
    ]);
  });

  test('invalid UTF-8 is reported with the line of the first bad byte', async () => {
    const file = write('latin1.csv', Buffer.concat([Buffer.from('id,question,answer\na,Caf'), Buffer.from([0xe9]), Buffer.from(',A.\n')]));
    expect(await onlyProblem(file)).toEqual([2, null, 'is not valid UTF-8; save the file as UTF-8']);
    const ff = write('ff.yaml', Buffer.from([0x2d, 0x20, 0xff, 0xff, 0x0a]));
    expect(await onlyProblem(ff)).toEqual([1, null, 'is not valid UTF-8; save the file as UTF-8']);
  });

  test('UTF-16 (as Excel "Unicode text" saves it) is recognised', async () => {
    const file = write('utf16.tsv', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('Question\tAnswer\n', 'utf16le')]));
    expect(await onlyProblem(file)).toEqual([null, null, 'is not valid UTF-8 (it is UTF-16); save the file as UTF-8']);
  });

  test('non-ASCII text is kept as is', async () => {
    const file = write('zh.yaml', lines('- id: hours-zh', '  question: 客服的工作时间是什么时候？', '  answer: 周一至周五。', '  alternates: [客服几点上班]'));
    expect((await loadFaqFiles([file]))[0]).toMatchObject({ question: '客服的工作时间是什么时候？', alternates: ['客服几点上班'] });
  });
});

describe('files', () => {
  test('detectFormat by extension, case-insensitive; unknown extension lists the supported ones', () => {
    expect(['a.yaml', 'a.YML', 'a.json', 'a.csv', 'b/a.tsv'].map(detectFormat)).toEqual(['yaml', 'yaml', 'json', 'csv', 'tsv']);
    expect(detectFormat('faq.txt')).toEqual({
      file: 'faq.txt',
      line: null,
      field: null,
      message: 'has the unsupported extension ".txt"; FAQ files must end in .yaml, .yml, .json, .csv, .tsv (rename it to say its format)',
    });
    expect(detectFormat('FAQ')).toMatchObject({ message: expect.stringMatching(/^has no file extension; FAQ files must end in \.yaml/) });
  });

  test('unknown extension through loadFaqFiles', async () => {
    const file = write('faq.xlsx', 'whatever');
    expect(await onlyProblem(file)).toEqual([null, null, expect.stringContaining('.yaml, .yml, .json, .csv, .tsv')]);
  });

  test('missing file: the OS reason and what to do', async () => {
    const file = path.join(dir, 'does-not-exist.yaml');
    expect(await onlyProblem(file)).toEqual([
      null,
      null,
      'cannot read the file: no such file or directory (ENOENT); check the path (it is relative to the directory you run kvcache from)',
    ]);
  });

  test('a directory is refused', async () => {
    const sub = path.join(dir, 'a-dir.yaml');
    fs.mkdirSync(sub);
    expect(await onlyProblem(sub)).toEqual([null, null, 'is a directory; pass the FAQ files inside it instead']);
  });

  test('no files at all is a usage error', async () => {
    await expect(loadFaqFiles([])).rejects.toMatchObject({ code: 'USAGE' });
    await expect(loadFaqFiles([])).rejects.toBeInstanceOf(KvcacheError);
  });

  test('the same file twice is reported once, not as duplicate ids', async () => {
    const file = write('twice.yaml', lines('- id: a', '  question: Q?', '  answer: A.'));
    const problems = await problemsOf([file, path.join(path.dirname(file), '.', 'twice.yaml')]);
    expect(problems).toHaveLength(1);
    expect(problems[0]!.message).toBe('is given more than once; pass each file once');
  });
});

describe('across files', () => {
  test('duplicate ids name both locations (across files and within one)', async () => {
    const a = write('a.yaml', lines('- id: returns', '  question: Q1?', '  answer: A.', '- id: shipping', '  question: Q2?', '  answer: A.'));
    const b = write('b.csv', lines('id,question,answer', 'hours,Q3?,A.', 'returns,Q4?,A.', 'hours,Q5?,A.'));
    const problems = await problemsOf([a, b]);
    expect(problems.map((p) => [p.file, p.line, p.field])).toEqual([
      [b, 3, 'id'],
      [b, 4, 'id'],
    ]);
    expect(problems[0]!.message).toBe(
      `"returns" is also the id of the entry at ${a}:1; ids must be unique across all FAQ files — rename one of them`,
    );
    expect(problems[1]!.message).toContain(`also the id of the entry at ${b}:2`);
  });

  test('the same question with two answers in a TSV explains the derived-id clash', async () => {
    const file = write('clash.tsv', lines('Question\tAnswer', 'Hours?\t9 to 5.', 'hours?\t10 to 6.'));
    expect(await onlyProblem(file)).toEqual([3, 'id', expect.stringMatching(/come from the question text.*merge them/)]);
  });

  test('several errors across two files are all reported at once, sorted by file then line; nothing is returned', async () => {
    const good = write('0-good.yaml', lines('- id: fine', '  question: Fine?', '  answer: Fine.'));
    const y = write('1-faq.yaml', lines('- id: a', '  question: Q?', '  answer: ""', '- id: b', '  qestion: Q?', '  answer: A.'));
    const c = write('2-faq.csv', lines('id,question,answer', 'c,,A.', 'd,Q?,A.,extra', 'a,Q?,A.'));
    // Pass them out of order: problems still come sorted by file, then line.
    const problems = await problemsOf([c, good, y]);
    expect(where(problems)).toEqual([
      ['1-faq.yaml', 3, 'answer'],
      ['1-faq.yaml', 4, 'question'],
      ['1-faq.yaml', 5, 'qestion'],
      ['2-faq.csv', 2, 'question'],
      ['2-faq.csv', 3, null],
    ]);
    expect(problems[2]!.message).toContain('did you mean "question"?');
    // The entry "a" in 1-faq.yaml is invalid, so "a" in the CSV is not a duplicate of anything.
  });

  test('the error message names the first problem and counts the rest', async () => {
    const y = write('m.yaml', lines('- id: a', '  question: ""', '  answer: ""'));
    await expect(loadFaqFiles([y])).rejects.toThrow(
      `${y}:2: field "question": is empty; write the question text or remove the entry (and 1 more problem(s)). Nothing was written`,
    );
  });
});

describe('parseFaqText', () => {
  test('is pure and reports per-file problems without reading anything', () => {
    const { records, problems } = parseFaqText('id,question,answer\nx,Q?,A.\ny,,A.\n', 'inline.csv', 'csv');
    expect(records.map((r) => r.id)).toEqual(['x']);
    expect(problems).toEqual([
      { file: 'inline.csv', line: 3, field: 'question', message: 'is empty; write the question text or remove the entry' },
    ]);
  });
});

// -------------------------------------------------------------------------------------- demo FAQ

describe('config/demo-faq.yaml', () => {
  const normalise = (s: string): string =>
    s
      .toLowerCase()
      .replace(/[\p{P}\p{S}]/gu, '')
      .replace(/\s+/g, ' ')
      .trim();

  test('loads: ≥ 34 entries, each with ≥ 3 alternates and tags, no two phrasings alike', async () => {
    const records = await loadFaqFiles([path.join(__dirname, '..', 'config', 'demo-faq.yaml')]);
    expect(records.length).toBeGreaterThanOrEqual(34);
    const seen = new Map<string, string>();
    const clashes: string[] = [];
    for (const r of records) {
      expect(r.id).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
      expect(r.alternates.length).toBeGreaterThanOrEqual(3);
      expect(r.alternates.length).toBeLessThanOrEqual(6);
      expect(r.tags.length).toBeGreaterThan(0);
      for (const phrasing of [r.question, ...r.alternates]) {
        const key = normalise(phrasing);
        const other = seen.get(key);
        if (other !== undefined) clashes.push(`"${phrasing}" (${r.id}) ~ ${other}`);
        seen.set(key, `"${phrasing}" (${r.id})`);
      }
    }
    expect(clashes).toEqual([]);
    // Multilingual: at least two entries asked in Chinese.
    expect(records.filter((r) => /[\u4e00-\u9fff]/.test(r.question)).length).toBeGreaterThanOrEqual(2);
  });
});
