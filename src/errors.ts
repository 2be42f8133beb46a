/**
 * Typed, coded errors. Every error a user can cause carries a code and a message that says what to do,
 * so transports (CLI, Slack, console) print one clear line instead of a stack trace.
 */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'FAQ_UNREADABLE'
  | 'FAQ_INVALID'
  | 'FAQ_CONFLICT'
  | 'STORE_OPEN_FAILED'
  | 'STORE_UNAVAILABLE'
  | 'QUESTION_EMPTY'
  | 'QUESTION_TOO_LONG'
  | 'TENANT_INVALID'
  | 'NOT_FOUND'
  | 'USAGE'
  | 'BUSY'
  | 'GENERATION_TIMEOUT'
  | 'MODEL_LOAD_FAILED'
  | 'CALIBRATION_INVALID'
  | 'HANDOFF_CLOSED'
  | 'ENGINE_FAILED';

export class KvcacheError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'KvcacheError';
  }
}

/** One problem in an FAQ file, located as precisely as the format allows. */
export interface FaqProblem {
  file: string;
  line: number | null;
  field: string | null;
  message: string;
}

export function formatProblem(p: FaqProblem): string {
  const where = p.line === null ? p.file : `${p.file}:${p.line}`;
  return p.field === null ? `${where}: ${p.message}` : `${where}: field "${p.field}": ${p.message}`;
}

/** Raised when an FAQ file set fails validation; nothing has been written when this is thrown. */
export class FaqValidationError extends KvcacheError {
  constructor(readonly problems: FaqProblem[]) {
    const first = problems[0];
    const head = first ? formatProblem(first) : 'invalid FAQ';
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem(s))` : '';
    super('FAQ_INVALID', `${head}${more}. Nothing was written; fix the file and run preload again.`, problems);
    this.name = 'FaqValidationError';
  }
}
