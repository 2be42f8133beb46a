/**
 * KVCACHE_STORE against a real redis-server that needs a password, and one that speaks only TLS with a
 * certificate from a private CA: the `kvcache` CLI as a user runs it, the password never printed.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort, startRedis, type RedisServer } from '../testkit/redis';
import { tmpDir } from './helpers/app';
import { runCli } from './helpers/cli';

const FAQ = '- {id: hours, question: When are you open?, answer: Daily from 9 to 5.}\n';
const SECRET = 'n0t-in-any-log';

function faqFile(): string {
  const f = path.join(tmpDir(), 'faq.yaml');
  fs.writeFileSync(f, FAQ);
  return f;
}

describe('a Redis with a password', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis({ args: ['--requirepass', SECRET] });
  });
  afterAll(() => redis.stop());

  test('the right password works, on the database of the URL; a wrong one is one clear line, password masked', async () => {
    const env = { KVCACHE_STORE: `redis://default:${SECRET}@127.0.0.1:${redis.port}/2`, KVCACHE_EMBED_MODEL: 'none', KVCACHE_FAQ: '' };
    const pre = await runCli(['preload', faqFile()], { env });
    expect(pre.code).toBe(0);
    const ask = await runCli(['ask', '--json', 'when are you open'], { env });
    expect(JSON.parse(ask.stdout)).toMatchObject({ answer: 'Daily from 9 to 5.', source: 'normalized' });
    // Database 0 of the same server holds nothing: the /2 was honoured.
    const db0 = await runCli(['ask', '--json', 'when are you open'], { env: { ...env, KVCACHE_STORE: `redis://default:${SECRET}@127.0.0.1:${redis.port}` } });
    expect(JSON.parse(db0.stdout)).toMatchObject({ source: 'fallback' });
    for (const r of [pre, ask, db0]) expect(r.stdout + r.stderr).not.toContain(SECRET);

    const wrong = await runCli(['stats'], { env: { ...env, KVCACHE_STORE: `redis://default:wrong-${SECRET}@127.0.0.1:${redis.port}` } });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr.trim().split('\n')).toHaveLength(1);
    expect(wrong.stderr).toMatch(/refused the connection \(WRONGPASS\); fix the user\/password in KVCACHE_STORE/);
    expect(wrong.stderr).not.toContain(SECRET);
    const none = await runCli(['stats'], { env: { ...env, KVCACHE_STORE: `redis://127.0.0.1:${redis.port}` } });
    expect([none.code, none.stderr]).toEqual([1, expect.stringMatching(/\(NOAUTH\); fix the user\/password/)]);
  }, 60_000);
});

describe('a Redis that speaks only TLS (rediss://), certificate from a private CA', () => {
  let redis: RedisServer;
  let tlsPort: number;
  let ca: string;
  beforeAll(async () => {
    const dir = tmpDir();
    const f = (n: string) => path.join(dir, n);
    const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=kvcache test CA', '-keyout', f('ca.key'), '-out', f('ca.pem'));
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', f('server.key'), '-out', f('server.csr'));
    fs.writeFileSync(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    ssl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', f('ext.cnf'), '-out', f('server.pem'));
    ca = f('ca.pem');
    tlsPort = await freePort();
    // The plain port stays for the test kit's own health checks; the bot is given only the TLS one.
    redis = await startRedis({
      args: ['--tls-port', String(tlsPort), '--tls-cert-file', f('server.pem'), '--tls-key-file', f('server.key'), '--tls-ca-cert-file', ca, '--tls-auth-clients', 'no'],
    });
  });
  afterAll(() => redis.stop());

  test('rediss:// with the CA trusted (NODE_EXTRA_CA_CERTS) works; without it, one line says what to do', async () => {
    const env = { KVCACHE_STORE: `rediss://127.0.0.1:${tlsPort}`, KVCACHE_EMBED_MODEL: 'none', KVCACHE_FAQ: '' };
    const trusted = { ...env, NODE_EXTRA_CA_CERTS: ca };
    expect((await runCli(['preload', faqFile()], { env: trusted })).code).toBe(0);
    const ask = await runCli(['ask', '--json', 'When are you open?'], { env: trusted });
    expect(JSON.parse(ask.stdout)).toMatchObject({ answer: 'Daily from 9 to 5.', source: 'exact' });

    const untrusted = await runCli(['stats'], { env });
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr.trim().split('\n')).toHaveLength(1);
    expect(untrusted.stderr).toMatch(/TLS certificate of Redis at rediss:\/\/127\.0\.0\.1:\d+ is not trusted .*NODE_EXTRA_CA_CERTS/);
    // Plain redis:// to a TLS-only port: the hint says to use rediss://.
    const plain = await runCli(['stats'], { env: { ...env, KVCACHE_STORE: `redis://127.0.0.1:${tlsPort}` } });
    expect(plain.code).toBe(1);
    expect(plain.stderr).toMatch(/rediss:\/\//);
  }, 60_000);
});
