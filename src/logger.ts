import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Structured logs on stderr (stdout is for command output). Anything that looks like a credential is redacted
 * by path, so a token or a Redis password never reaches a log line.
 */
export function createLogger(level: string): Logger {
  return pino(
    {
      level,
      base: { app: 'kvcache-bot' },
      redact: { paths: ['token', '*.token', 'password', '*.password', 'url', '*.authorization', 'headers.authorization'], censor: '***' },
    },
    pino.destination({ fd: 2, sync: true }),
  );
}

export const silentLogger: Logger = pino({ level: 'silent' });
