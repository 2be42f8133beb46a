/**
 * The WebClient's HTTP transport. Node 20's global fetch was the single largest cost of answering an event
 * (bench:slack: ~43% of the bot's CPU); undici's request API on a keep-alive pool does the same job for about
 * half the CPU. It returns a standard Response, so the WebClient's retry, 429 and error handling are unchanged.
 */
import { Agent, request } from 'undici';

const agent = new Agent({ keepAliveTimeout: 30_000, connections: 64 });
const NULL_BODY_STATUS = new Set([101, 204, 205, 304]);

function headerPairs(h: RequestInit['headers']): Record<string, string> {
  if (!h) return {};
  if (h instanceof Headers) return Object.fromEntries(h.entries());
  if (Array.isArray(h)) return Object.fromEntries(h);
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k, String(v)]));
}

export const slackFetch: typeof fetch = async (input, init) => {
  const body = init?.body;
  // Multipart uploads (files.*) and streams are left to the standard fetch; the bot never sends them.
  if (body !== undefined && body !== null && typeof body !== 'string' && !(body instanceof Uint8Array) && !(body instanceof URLSearchParams)) {
    return fetch(input, init);
  }
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  const res = await request(url, {
    method: (init?.method ?? 'GET') as 'GET' | 'POST',
    headers: headerPairs(init?.headers),
    body: body instanceof URLSearchParams ? body.toString() : (body ?? null),
    dispatcher: agent,
    signal: init?.signal ?? null,
  });
  const headers = new Headers();
  for (const [k, v] of Object.entries(res.headers)) {
    if (Array.isArray(v)) for (const one of v) headers.append(k, one);
    else if (v !== undefined) headers.set(k, v);
  }
  const bytes = Buffer.from(await res.body.arrayBuffer());
  return new Response(NULL_BODY_STATUS.has(res.statusCode) ? null : bytes, { status: res.statusCode, headers });
};
