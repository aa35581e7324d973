/**
 * Connection exhaustion (issue 11 item 4): a cap on connections, a cap per client address and short header and
 * request timeouts, with small values so the test stays light. Clients use several loopback addresses
 * (127.0.0.2, 127.0.0.3, ...), which Linux routes to the server on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { defaultMaxConnections } from '../../src/server/connections.ts';
import { call, startHarness } from './helpers.ts';
import type { Harness } from './helpers.ts';

interface HeldSocket {
  readonly socket: Socket;
  /** Everything the server sent, once it closed the connection. */
  readonly closed: Promise<string>;
}

/** A connection from `localAddress` that sends `text` and keeps the connection open. */
async function hold(h: Harness, localAddress: string, text: string): Promise<HeldSocket> {
  const url = new URL(h.origin);
  const socket = connect({ host: url.hostname, port: Number(url.port), localAddress });
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (received += d));
  socket.on('error', () => {});
  const closed = new Promise<string>((resolve) => socket.once('close', () => resolve(received)));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.write(text);
  return { socket, closed };
}

/** A GET over a fresh connection from `localAddress` (no keep-alive): its status, or the socket error. */
function getFrom(h: Harness, localAddress: string, path: string, token: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request(`${h.base}${path}`, { localAddress, agent: false, headers: { authorization: `Bearer ${token}`, connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.end();
  });
}

/** Polls /metrics until `pattern` appears (the server counts a refused connection as it closes it). */
async function metricsMatch(h: Harness, pattern: RegExp): Promise<string> {
  for (let i = 0; ; i++) {
    const text = (await call(h.origin, 'GET', '/metrics', { headers: { connection: 'close' } })).text;
    if (pattern.test(text) || i === 50) return text;
    await new Promise((r) => setTimeout(r, 20));
  }
}

const HALF_SENT = 'GET /healthz HTTP/1.1\r\nHost: x\r\n';

describe('connection caps', () => {
  let h: Harness;
  const held: HeldSocket[] = [];
  before(async () => {
    h = await startHarness({ connections: { maxConnections: 6, maxConnectionsPerAddress: 3, headersTimeoutMs: 60_000, requestTimeoutMs: 60_000 } });
  });
  after(async () => {
    for (const s of held) s.socket.destroy();
    await h.close();
  });

  test('one address holding half-sent requests up to its cap leaves the others served; past the caps connections are closed', async () => {
    for (let i = 0; i < 3; i++) held.push(await hold(h, '127.0.0.2', HALF_SENT));
    // The fourth from that address is closed at once, without an answer.
    const refused = await hold(h, '127.0.0.2', HALF_SENT);
    assert.equal(await refused.closed, '');
    // Another client is still served.
    assert.equal(await getFrom(h, '127.0.0.5', '/Users', h.token), 200);
    let metrics = await metricsMatch(h, /scimkit_connections_refused_total\{reason="per_address"\} 1\n/);
    assert.match(metrics, /scimkit_connections_refused_total\{reason="per_address"\} 1\n/);

    // A second address takes the server to its cap of six connections; the next connection, from anywhere, is dropped.
    for (let i = 0; i < 3; i++) held.push(await hold(h, '127.0.0.3', HALF_SENT));
    const dropped = await hold(h, '127.0.0.4', 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(await dropped.closed, '');
    // Once the held connections go, the server serves again.
    for (const s of held.splice(0)) {
      s.socket.destroy();
      await s.closed;
    }
    let status: number | string = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      status = await getFrom(h, '127.0.0.4', '/Users', h.token);
      if (status !== 200) await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(status, 200);
    metrics = await metricsMatch(h, /scimkit_connections_refused_total\{reason="max_connections"\} [1-9]/);
    assert.match(metrics, /scimkit_connections_refused_total\{reason="max_connections"\} [1-9]/);
    assert.match(metrics, /scimkit_open_connections \d+\n/);
  });
});

describe('a trusted proxy is not capped per address', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ trustProxy: '127.0.0.6', connections: { maxConnections: 50, maxConnectionsPerAddress: 2 } });
  });
  after(async () => h.close());

  test('the proxy holds more connections than the per-address cap; another address does not', async () => {
    const proxied = [];
    for (let i = 0; i < 4; i++) proxied.push(await hold(h, '127.0.0.6', HALF_SENT));
    const other = [];
    for (let i = 0; i < 3; i++) other.push(await hold(h, '127.0.0.7', HALF_SENT));
    assert.equal(await other[2].closed, '', 'the third connection of an untrusted address is closed');
    const statuses = await Promise.all([getFrom(h, '127.0.0.6', '/Users', h.token), getFrom(h, '127.0.0.6', '/Users', h.token)]);
    assert.deepEqual(statuses, [200, 200]);
    for (const s of [...proxied, ...other]) s.socket.destroy();
  });
});

describe('header and request timeouts', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ connections: { headersTimeoutMs: 200, requestTimeoutMs: 400 } });
  });
  after(async () => h.close());

  test('headers that never finish get 408 and a closed connection', { timeout: 10_000 }, async () => {
    const slow = await hold(h, '127.0.0.8', HALF_SENT);
    const answer = await slow.closed;
    assert.match(answer, /^HTTP\/1\.1 408 /);
    assert.match(answer, /"status":"408"/);
  });

  test('a body that never finishes gets 408 and a closed connection', { timeout: 10_000 }, async () => {
    const slow = await hold(h, '127.0.0.8', `POST ${new URL(h.base).pathname}/Users HTTP/1.1\r\nHost: x\r\nContent-Type: application/scim+json\r\nAuthorization: Bearer ${h.token}\r\nContent-Length: 100\r\n\r\n{"userName":`);
    const answer = await slow.closed;
    assert.match(answer, /^HTTP\/1\.1 408 /);
    assert.equal(await getFrom(h, '127.0.0.8', '/Users', h.token), 200);
  });
});

test('the default connection cap stays below the open-file limit', () => {
  assert.equal(defaultMaxConnections(20_000), 10_000);
  assert.equal(defaultMaxConnections(4096), 3840);
  assert.equal(defaultMaxConnections(1024), 768);
  assert.equal(defaultMaxConnections(256), 128);
  assert.equal(defaultMaxConnections(null), 10_000);
});
