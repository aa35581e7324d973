/**
 * HttpSender (src/server/webhook-sender.ts) against receivers on loopback that answer and then stall: the status
 * line is the receiver's answer (Standard Webhooks: a 2xx is a success), so an answer whose body never ends is that
 * status, not a timeout; an informational 1xx is not an answer.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { HttpSender } from '../../src/server/webhook-sender.ts';
import type { WebhookRequest } from '../../src/server/webhook-sender.ts';

const SECRET = 'whsec_' + Buffer.alloc(32, 5).toString('base64');

describe('the webhook sender, on answers whose body never ends', () => {
  const sockets = new Set<Socket>();
  // What each path answers before it stalls.
  const stalls: Record<string, (res: ServerResponse) => void> = {
    '/ok': (res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial');
    },
    '/busy': (res) => {
      res.writeHead(503, { 'retry-after': '7', 'content-length': '100' });
      res.write('partial');
    },
    '/hints': (res) => res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' }),
  };
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => stalls[req.url ?? '']?.(res));
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  let origin = '';
  let sender: HttpSender;
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    sender = new HttpSender({ timeoutMs: 1000, connections: 4 });
  });
  after(async () => {
    for (const socket of sockets) socket.destroy();
    await sender.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const request = (path: string): WebhookRequest => ({
    url: origin + path,
    eventId: 'evt_1',
    timestamp: Math.floor(Date.now() / 1000),
    secrets: [SECRET],
    body: JSON.stringify({ id: 'evt_1', type: 'user.created' }),
  });

  test('a 2xx status line is a success, even when the body never ends', async () => {
    assert.deepEqual(await sender.send(request('/ok')), { status: 200, retryAfter: undefined });
  });

  test('another status is that status, with its Retry-After', async () => {
    assert.deepEqual(await sender.send(request('/busy')), { status: 503, retryAfter: '7' });
  });

  test('an informational 1xx alone is no answer: the attempt times out', async () => {
    assert.deepEqual(await sender.send(request('/hints')), { error: 'timeout: no answer within 1 s' });
  });
});
