/**
 * The webhook sender thread `serve` uses (src/server/sender-thread.ts), against a real receiver on loopback: it signs
 * and posts as the in-thread sender does, passes answers and errors back, and a thread that dies fails the requests
 * it held instead of leaving them waiting, then the next request starts a new thread.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { ThreadSender } from '../../src/server/sender-thread.ts';
import type { WebhookRequest } from '../../src/server/webhook-sender.ts';
import { closedPort, startReceiver } from './receiver.ts';
import type { Receiver } from './receiver.ts';

const SECRET = 'whsec_' + Buffer.alloc(32, 3).toString('base64');
const OLD_SECRET = 'whsec_' + Buffer.alloc(32, 9).toString('base64');

function request(url: string, n: number, secrets: readonly string[] = [SECRET]): WebhookRequest {
  const body = JSON.stringify({ id: `evt_${n}`, type: 'user.created', sequence: n, data: { userName: `u${n}@example.com` } });
  return { url, eventId: `evt_${n}`, timestamp: Math.floor(Date.now() / 1000), secrets, body };
}

describe('the webhook sender thread', { timeout: 120_000 }, () => {
  let receiver: Receiver;
  let sender: ThreadSender;
  before(async () => {
    receiver = await startReceiver();
    sender = new ThreadSender({ timeoutMs: 5000, connections: 4 });
  });
  after(async () => {
    await sender?.close();
    await receiver?.close();
  });

  test('posts signed requests (both secrets while one is rotated) and passes the status and Retry-After back', async () => {
    receiver.answer = (got) => (got.event.sequence === 2 ? { status: 429, headers: { 'retry-after': '7' } } : { status: 204 });
    const mark = receiver.received.length;
    const results = await Promise.all([1, 2, 3].map((n) => sender.send(request(receiver.url, n, n === 3 ? [SECRET, OLD_SECRET] : [SECRET]))));
    assert.deepEqual(results, [
      { status: 204, retryAfter: undefined },
      { status: 429, retryAfter: '7' },
      { status: 204, retryAfter: undefined },
    ]);
    const got = receiver.received.slice(mark).sort((a, b) => a.event.sequence - b.event.sequence);
    assert.equal(got.length, 3);
    for (const r of got) {
      const headers = { 'webhook-id': String(r.headers['webhook-id']), 'webhook-timestamp': String(r.headers['webhook-timestamp']), 'webhook-signature': String(r.headers['webhook-signature']) };
      assert.equal((new Webhook(SECRET).verify(r.body, headers) as { id: string }).id, r.event.id);
      const expected = createHmac('sha256', Buffer.alloc(32, 3)).update(`${headers['webhook-id']}.${headers['webhook-timestamp']}.${r.body}`).digest('base64');
      assert.ok(headers['webhook-signature'].split(' ').includes(`v1,${expected}`));
    }
    // The rotated request carries a second signature, which the old secret verifies.
    assert.equal(String(got[2].headers['webhook-signature']).split(' ').length, 2);
    assert.doesNotThrow(() => new Webhook(OLD_SECRET).verify(got[2].body, { 'webhook-id': String(got[2].headers['webhook-id']), 'webhook-timestamp': String(got[2].headers['webhook-timestamp']), 'webhook-signature': String(got[2].headers['webhook-signature']) }));
    receiver.answer = () => ({ status: 200 });
  });

  test('a refused connection comes back as an error, worded as the delivery log shows it', async () => {
    assert.deepEqual(await sender.send(request(`http://127.0.0.1:${await closedPort()}/hook`, 4)), { error: 'connection refused' });
  });

  test('a thread that dies fails the requests it held at once, and the next request starts a new thread', async () => {
    let arrived!: () => void;
    const hanging = new Promise<void>((resolve) => (arrived = resolve));
    receiver.answer = () => {
      arrived();
      return { hang: true };
    };
    const held = sender.send(request(receiver.url, 5));
    await hanging; // the thread has sent it and waits for the answer (timeout 5 s)
    receiver.answer = () => ({ status: 200 });
    // Not a request: the thread fails on it outside any handler and dies.
    const broken = sender.send({} as WebhookRequest);
    const [heldResult, brokenResult] = await Promise.all([held, broken]);
    assert.ok('error' in heldResult && /sender thread/.test(heldResult.error), JSON.stringify(heldResult));
    assert.ok('error' in brokenResult && /sender thread/.test(brokenResult.error), JSON.stringify(brokenResult));
    assert.deepEqual(await sender.send(request(receiver.url, 6)), { status: 200, retryAfter: undefined });
  });
});
