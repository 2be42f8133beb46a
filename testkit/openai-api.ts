/**
 * A local HTTP server that speaks the part of the OpenAI API an inference engine serves (vLLM, TGI, llama.cpp's
 * server, Ollama): GET /v1/models and POST /v1/chat/completions, streamed as server-sent events or not, with
 * bearer-key checks, 429/503 on demand and a prefix cache that behaves like the engines' (a request whose
 * messages start like the previous one's reports those tokens as cached and answers its first token sooner).
 * The replies are scripted by the test: the engine is outside the product, so only it is faked.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ChatMessage {
  role: string;
  content: string;
}

export interface EngineCall {
  at: number;
  path: string;
  body: Record<string, unknown>;
  status: number;
  /** Prompt "tokens" (words) served from the prefix cache. */
  cachedTokens: number;
}

export interface FakeEngineOptions {
  models?: string[];
  /** When set, requests must carry `Authorization: Bearer <key>`. */
  key?: string;
  /** The reply to a chat (default: the first FAQ answer in the user message, word for word). */
  reply?: (messages: ChatMessage[]) => string;
  /** Delay per streamed piece, and per uncached prompt word before the first one (ms). */
  pieceMs?: number;
  promptWordMs?: number;
}

export interface FakeEngine {
  url: string;
  calls: EngineCall[];
  setReply(fn: (messages: ChatMessage[]) => string): void;
  /** The next `times` chat requests answer `status` (with Retry-After seconds when given). */
  failNext(status: number, times?: number, retryAfterSec?: number): void;
  /** The next chat request hangs for ms before answering. */
  stallNext(ms: number): void;
  /**
   * The next streamed reply goes wrong after its first piece: `stall` sends nothing more (the connection stays
   * open), `malformed` sends an event that is not JSON, `cut` drops the connection.
   */
  faultNext(kind: StreamFault): void;
  close(): Promise<void>;
}

export type StreamFault = 'stall' | 'malformed' | 'cut';

const words = (s: string) => s.split(/(\s+)/).filter((w) => w !== '');

export function firstFaqAnswer(messages: ChatMessage[]): string {
  const user = messages.find((m) => m.role === 'user')?.content ?? '';
  return /\[1\] Q: .*\nA: (.*)/.exec(user)?.[1] ?? 'NO_ANSWER';
}

export async function startFakeEngine(o: FakeEngineOptions = {}): Promise<FakeEngine> {
  const models = o.models ?? ['smollm2-135m-instruct'];
  let reply = o.reply ?? firstFaqAnswer;
  const failures: Array<{ status: number; retryAfterSec?: number }> = [];
  const stalls: number[] = [];
  const faults: StreamFault[] = [];
  const calls: EngineCall[] = [];
  let previousPrompt: string[] = [];
  const sockets = new Set<import('node:net').Socket>();

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const path = (req.url ?? '').replace(/\?.*$/, '');
        let body: Record<string, unknown> = {};
        try {
          body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>) : {};
        } catch {
          res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'invalid JSON' } }));
          return;
        }
        const call: EngineCall = { at: Date.now(), path, body, status: 200, cachedTokens: 0 };
        calls.push(call);
        const send = (status: number, json: unknown, headers: Record<string, string> = {}) => {
          call.status = status;
          res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(json));
        };
        if (o.key !== undefined && req.headers.authorization !== `Bearer ${o.key}`) return send(401, { error: { message: 'Invalid API key', type: 'invalid_request_error' } });
        if (req.method === 'GET' && path === '/v1/models') return send(200, { object: 'list', data: models.map((id) => ({ id, object: 'model', owned_by: 'local' })) });
        if (req.method !== 'POST' || path !== '/v1/chat/completions') return send(404, { error: { message: `no route ${req.method} ${path}` } });
        const failure = failures.shift();
        if (failure) return send(failure.status, { error: { message: 'busy' } }, failure.retryAfterSec !== undefined ? { 'retry-after': String(failure.retryAfterSec) } : {});
        if (!models.includes(String(body.model))) return send(404, { error: { message: `model ${String(body.model)} not found` } });
        const stall = stalls.shift();
        if (stall) await new Promise((r) => setTimeout(r, stall));
        const messages = (body.messages ?? []) as ChatMessage[];
        // The prefix cache: the words this prompt shares with the previous one, from the start.
        const prompt = words(messages.map((m) => `${m.role}: ${m.content}`).join('\n'));
        let shared = 0;
        while (shared < prompt.length && shared < previousPrompt.length && prompt[shared] === previousPrompt[shared]) shared++;
        previousPrompt = prompt;
        call.cachedTokens = shared;
        const usage = { prompt_tokens: prompt.length, completion_tokens: 0, prompt_tokens_details: { cached_tokens: shared } };
        await new Promise((r) => setTimeout(r, (prompt.length - shared) * (o.promptWordMs ?? 0)));
        const text = reply(messages);
        const pieces = words(text);
        usage.completion_tokens = pieces.length;
        if (body.stream !== true) return send(200, { id: 'cmpl-1', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }], usage });
        call.status = 200;
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        const fault = faults.shift();
        for (const [i, p] of pieces.entries()) {
          res.write(`data: ${JSON.stringify({ id: 'cmpl-1', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: p } }] })}\n\n`);
          if (o.pieceMs) await new Promise((r) => setTimeout(r, o.pieceMs));
          if (i > 0 || !fault) continue;
          if (fault === 'stall') return; // headers and one piece sent; the response is never ended
          if (fault === 'cut') return void res.socket?.destroy();
          res.write('data: {"choices": [{"delta": {"content": "tw\n\n');
        }
        res.write(`data: ${JSON.stringify({ id: 'cmpl-1', object: 'chat.completion.chunk', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage })}\n\n`);
        res.end('data: [DONE]\n\n');
      })().catch(() => res.destroy());
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    calls,
    setReply: (fn) => {
      reply = fn;
    },
    failNext: (status, times = 1, retryAfterSec) => {
      for (let i = 0; i < times; i++) failures.push({ status, ...(retryAfterSec !== undefined ? { retryAfterSec } : {}) });
    },
    stallNext: (ms) => void stalls.push(ms),
    faultNext: (kind) => void faults.push(kind),
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
