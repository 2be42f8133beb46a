/** Output helpers that respect a piped stdout: every line reaches the pipe before the process exits. */
import type { Writable } from 'node:stream';

export async function writeLine(out: Writable, line: string): Promise<void> {
  if (!out.write(`${line}\n`)) {
    await new Promise<void>((resolve, reject) => {
      const onDrain = () => {
        out.off('error', onError);
        resolve();
      };
      const onError = (err: Error) => {
        out.off('drain', onDrain);
        reject(err);
      };
      out.once('drain', onDrain);
      out.once('error', onError);
    });
  }
}

export function flushed(out: Writable): Promise<void> {
  return new Promise((resolve) => out.write('', () => resolve()));
}
