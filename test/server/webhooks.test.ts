/**
 * Webhook delivery against real receiving HTTP servers on loopback, on SQLite and PostgreSQL: Standard Webhooks
 * signatures (checked with the `standardwebhooks` package and with an independent HMAC), secret rotation, the
 * retry schedule on an injected clock, receiver failures (500, timeout, refused connection, 429/503 with
 * Retry-After, 410, redirects), replay, and per-resource order while the receiver fails intermittently.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { DeliveryWorker, RETRY_SCHEDULE_MS } from '../../src/server/delivery.ts';
import { EventMetrics } from '../../src/server/event-metrics.ts';
import type { SqlStore } from '../../src/store/index.ts';
import { backends, call, client, patchOp, startHarness, user } from './helpers.ts';
import type { Harness } from './helpers.ts';
import { closedPort, startReceiver } from './receiver.ts';
import type { Answer, Receiver, Received } from './receiver.ts';
import { prng } from '../prng.ts';

/** An independent Standard Webhooks check: every v1 signature in the header, against each secret. */
function hmacMatches(secret: string, received: Received): boolean[] {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const signed = `${received.headers['webhook-id']}.${received.headers['webhook-timestamp']}.${received.body}`;
  const expected = createHmac('sha256', key).update(signed).digest();
  return String(received.headers['webhook-signature'])
    .split(' ')
    .map((part) => {
      const [version, value] = part.split(',');
      const given = Buffer.from(value ?? '', 'base64');
      return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected);
    });
}

function headersOf(r: Received): Record<string, string> {
  return {
    'webhook-id': String(r.headers['webhook-id']),
    'webhook-timestamp': String(r.headers['webhook-timestamp']),
    'webhook-signature': String(r.headers['webhook-signature']),
  };
}

for (const backend of backends()) {
  describe(`webhooks (${backend})`, () => {
    let h: Harness;
    let key: string;
    let scim: ReturnType<typeof client>;
    let receiver: Receiver;

    const api = (method: string, path: string, body?: unknown) =>
      call(`${h.origin}/api/v1/organizations/${h.org.id}`, method, path, {
        defaultToken: key,
        body,
        headers: body !== undefined ? { 'content-type': 'application/json' } : {},
      });

    before(async () => {
      h = await startHarness({ backend, allowHttpWebhooks: true });
      key = (await h.store.createManagementKey({ orgId: h.org.id })).secret;
      scim = client(h);
      receiver = await startReceiver();
    });
    after(async () => {
      await receiver?.close();
      await h?.close();
    });

    /** A new endpoint (through the API) that only this test's receiver behaviour applies to. */
    async function endpoint(url = receiver.url, events?: string[]): Promise<{ id: string; secret: string }> {
      const res = await api('POST', '/webhooks', { url, ...(events ? { events } : {}) });
      assert.equal(res.status, 201, res.text);
      assert.match(res.body.secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
      return { id: res.body.id, secret: res.body.secret };
    }

    async function deleteEndpoint(id: string): Promise<void> {
      assert.equal((await api('DELETE', `/webhooks/${id}`)).status, 204);
    }

    function worker(clock?: { t: number }, options: { timeoutMs?: number } = {}): DeliveryWorker {
      return new DeliveryWorker({
        store: h.store,
        allowHttp: true,
        ...(clock ? { now: () => clock.t } : {}),
        random: () => 0.5, // no jitter: exact delays
        timeoutMs: options.timeoutMs ?? 2000,
      });
    }

    test('http URLs are refused without --allow-http-webhooks, and bad URLs or types are 400', async () => {
      const strict = await startHarness({ backend });
      try {
        const strictKey = (await strict.store.createManagementKey({ orgId: null })).secret;
        const res = await call(`${strict.origin}/api/v1/organizations/${strict.org.id}`, 'POST', '/webhooks', {
          defaultToken: strictKey,
          body: { url: 'http://127.0.0.1:9/hook' },
          headers: { 'content-type': 'application/json' },
        });
        assert.equal(res.status, 400);
        assert.match(res.body.error.message, /https/);
      } finally {
        await strict.close();
      }
      for (const body of [{ url: 'ftp://x/y' }, { url: 'not a url' }, { url: 'https://u:p@x.example/' }, { url: receiver.url, events: ['user.exploded'] }, {}]) {
        const res = await api('POST', '/webhooks', body);
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.equal(res.body.error.status, 400);
      }
      // A misspelt field is refused, not ignored: ignored, "event_types" would subscribe the endpoint to every type.
      const before = (await api('GET', '/webhooks')).body.data.length;
      const misspelt = await api('POST', '/webhooks', { url: receiver.url, event_types: ['user.deactivated'] });
      assert.equal(misspelt.status, 400, misspelt.text);
      assert.equal(misspelt.body.error.code, 'invalid_field');
      assert.match(misspelt.body.error.message, /"event_types".*url, events/);
      assert.equal((await api('GET', '/webhooks')).body.data.length, before);
      const created = await api('POST', '/webhooks', { url: receiver.url, events: ['user.deactivated'] });
      assert.equal(created.status, 201);
      const patched = await api('PATCH', `/webhooks/${created.body.id}`, { event_types: null });
      assert.equal(patched.status, 400, patched.text);
      assert.match(patched.body.error.message, /"event_types".*url, events, enabled/);
      assert.deepEqual((await api('GET', `/webhooks/${created.body.id}`)).body.events, ['user.deactivated']);
      assert.equal((await api('POST', `/webhooks/${created.body.id}/rotate-secret`, { grace: 60 })).status, 400);
      assert.equal((await api('POST', `/webhooks/${created.body.id}/replay`, { since: '2026-01-01T00:00:00Z', until: 'now' })).status, 400);
      assert.equal((await api('DELETE', `/webhooks/${created.body.id}`)).status, 204);
    });

    test('deliveries are signed (Standard Webhooks): verified by the standardwebhooks package and by an independent HMAC', async () => {
      const ep = await endpoint();
      const w = worker();
      try {
        const created = await scim('POST', '/Users', { body: user('signed@example.com') });
        const before = receiver.received.length;
        assert.equal(await w.drain(), 1);
        const [got] = receiver.received.slice(before);
        assert.equal(got.headers['content-type'], 'application/json');
        assert.equal(got.event.type, 'user.created');
        assert.equal(got.event.data.id, created.body.id);
        assert.equal(got.headers['webhook-id'], got.event.id);
        assert.ok(Math.abs(Number(got.headers['webhook-timestamp']) - Date.now() / 1000) < 60);
        // The package throws on a bad signature or timestamp, and returns the parsed payload.
        const verified = new Webhook(ep.secret).verify(got.body, headersOf(got)) as { id: string };
        assert.equal(verified.id, got.event.id);
        assert.deepEqual(hmacMatches(ep.secret, got), [true]);
        // A wrong secret or a changed body fails both checks.
        const wrong = 'whsec_' + Buffer.alloc(32, 7).toString('base64');
        assert.throws(() => new Webhook(wrong).verify(got.body, headersOf(got)));
        assert.deepEqual(hmacMatches(wrong, got), [false]);
        assert.throws(() => new Webhook(ep.secret).verify(got.body.replace('signed@', 'forged@'), headersOf(got)));
        // The delivery is recorded as succeeded.
        const list = await api('GET', `/webhooks/${ep.id}/deliveries`);
        assert.deepEqual(list.body.data.map((d: { status: string; attempts: number; last_status: number }) => [d.status, d.attempts, d.last_status]), [['succeeded', 1, 200]]);
        assert.equal(list.body.next_cursor, null);
      } finally {
        await w.close();
        await deleteEndpoint(ep.id);
      }
    });

    test('deliveries newest first (order=desc) page back with before; oldest first stays the default', async () => {
      const ep = await endpoint(receiver.url, ['user.created']);
      const w = worker();
      try {
        for (const name of ['d1', 'd2', 'd3']) await scim('POST', '/Users', { body: user(`${name}@example.com`) });
        assert.equal(await w.drain(), 3);
        const ascending = (await api('GET', `/webhooks/${ep.id}/deliveries`)).body.data.map((d: { id: string }) => d.id);
        assert.equal(ascending.length, 3);
        const first = await api('GET', `/webhooks/${ep.id}/deliveries?order=desc&limit=2`);
        assert.equal(first.status, 200, first.text);
        assert.deepEqual(first.body.data.map((d: { id: string }) => d.id), [ascending[2], ascending[1]]);
        assert.equal(first.body.next_cursor, ascending[1]);
        const second = await api('GET', `/webhooks/${ep.id}/deliveries?order=desc&limit=2&before=${first.body.next_cursor}`);
        assert.deepEqual(second.body.data.map((d: { id: string }) => d.id), [ascending[0]]);
        assert.equal(second.body.next_cursor, null);
        for (const [query, code] of [
          ['order=down', 'invalid_order'],
          ['order=desc&after=1', 'invalid_request'],
          ['before=1', 'invalid_request'],
          ['order=desc&before=x', 'invalid_cursor'],
        ]) {
          const res = await api('GET', `/webhooks/${ep.id}/deliveries?${query}`);
          assert.equal(res.status, 400, query);
          assert.equal(res.body.error.code, code, query);
        }
      } finally {
        await w.close();
        await deleteEndpoint(ep.id);
      }
    });

    test('while a secret is rotated, both signatures are sent; each secret verifies; reveal shows the current one', async () => {
      const ep = await endpoint();
      const w = worker();
      try {
        const rotated = await api('POST', `/webhooks/${ep.id}/rotate-secret`, { grace_seconds: 3600 });
        assert.equal(rotated.status, 200);
        const fresh: string = rotated.body.secret;
        assert.notEqual(fresh, ep.secret);
        assert.ok(rotated.body.previous_secret_valid_until > new Date().toISOString());
        assert.equal((await api('GET', `/webhooks/${ep.id}/secret`)).body.secret, fresh);
        // The endpoint's own listing never shows a secret.
        assert.ok(!(await api('GET', `/webhooks/${ep.id}`)).text.includes('whsec_'));
        assert.ok(!(await api('GET', '/webhooks')).text.includes('whsec_'));

        await scim('POST', '/Users', { body: user('rotated@example.com') });
        const before = receiver.received.length;
        await w.drain();
        const [got] = receiver.received.slice(before);
        assert.equal(String(got.headers['webhook-signature']).split(' ').length, 2);
        new Webhook(fresh).verify(got.body, headersOf(got));
        new Webhook(ep.secret).verify(got.body, headersOf(got));
        assert.deepEqual(hmacMatches(fresh, got), [true, false]);
        assert.deepEqual(hmacMatches(ep.secret, got), [false, true]);

        // With no grace, the old secret stops signing at once.
        await api('POST', `/webhooks/${ep.id}/rotate-secret`, { grace_seconds: 0 });
        const newest: string = (await api('GET', `/webhooks/${ep.id}/secret`)).body.secret;
        await scim('POST', '/Users', { body: user('rotated-again@example.com') });
        const mark = receiver.received.length;
        await w.drain();
        const [last] = receiver.received.slice(mark);
        assert.deepEqual(hmacMatches(newest, last), [true]);
        assert.throws(() => new Webhook(fresh).verify(last.body, headersOf(last)));
      } finally {
        await w.close();
        await deleteEndpoint(ep.id);
      }
    });

    test('retry schedule on an injected clock: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, then failed; visible; replay delivers it', async () => {
      const ep = await endpoint(receiver.url, ['user.created']);
      // A little ahead of the store's clock, so the deliveries it creates from now on are due.
      const clock = { t: Date.now() + 1000 };
      const w = worker(clock);
      receiver.answer = () => ({ status: 500 });
      try {
        await scim('POST', '/Users', { body: user('retry@example.com') });
        const start = receiver.received.length;
        assert.equal(await w.runOnce(), 1);
        for (const delay of RETRY_SCHEDULE_MS) {
          const [delivery] = (await api('GET', `/webhooks/${ep.id}/deliveries`)).body.data;
          assert.equal(delivery.status, 'pending');
          assert.equal(delivery.last_status, 500);
          assert.equal(Date.parse(delivery.next_attempt_at) - Date.parse(delivery.last_attempt_at), delay);
          clock.t += delay - 1000;
          assert.equal(await w.runOnce(), 0, 'nothing is sent before the next attempt is due');
          clock.t += 1000;
          assert.equal(await w.runOnce(), 1);
        }
        assert.equal(receiver.received.length - start, 8, 'eight attempts in all');
        const ids = new Set(receiver.received.slice(start).map((r) => r.headers['webhook-id']));
        assert.equal(ids.size, 1, 'the same webhook-id on every attempt');
        clock.t += 100 * 3600_000;
        assert.equal(await w.runOnce(), 0);
        const failed = await api('GET', `/webhooks/${ep.id}/deliveries?status=failed`);
        assert.equal(failed.body.data.length, 1);
        const [f] = failed.body.data;
        assert.equal(f.attempts, 8);
        assert.match(f.last_error, /500.*no attempts left/);
        // Replay: a new delivery of the same event, which now succeeds.
        receiver.answer = () => ({ status: 204 });
        const replay = await api('POST', `/webhooks/${ep.id}/deliveries/${f.id}/replay`);
        assert.equal(replay.status, 202);
        assert.equal(replay.body.event_id, f.event_id);
        assert.equal(await w.runOnce(), 1);
        const last = receiver.received[receiver.received.length - 1];
        assert.equal(last.headers['webhook-id'], f.event_id);
        assert.equal((await api('GET', `/webhooks/${ep.id}/deliveries/${replay.body.id}`)).body.status, 'succeeded');
      } finally {
        receiver.answer = () => ({ status: 200 });
        await w.close();
        await deleteEndpoint(ep.id);
      }
    });

    test('receiver failures: a timeout, a refused connection, a redirect and a 500 retry; 429 and 503 honour Retry-After', async () => {
      // A little ahead of the store's clock, so the deliveries it creates from now on are due.
      const clock = { t: Date.now() + 1000 };
      const w = worker(clock, { timeoutMs: 300 });
      const refused = await endpoint(`http://127.0.0.1:${await closedPort()}/hook`);
      const main = await endpoint();
      try {
        const outcomes: string[] = [];
        for (const [name, answer] of [
          ['timeout', { hang: true }],
          ['redirect', { status: 302, headers: { location: `${receiver.url}/elsewhere` } }],
          ['500', { status: 500 }],
          ['429', { status: 429, headers: { 'retry-after': '120' } }],
          ['503', { status: 503, headers: { 'retry-after': '(an HTTP date three hours after the attempt)' } }],
        ] as [string, Answer][]) {
          // The HTTP date is taken when the receiver answers, on the worker's clock.
          receiver.answer = () => (name === '503' ? { status: 503, headers: { 'retry-after': new Date(clock.t + 3 * 3600_000).toUTCString() } } : answer);
          await scim('POST', '/Users', { body: user(`fail-${name}@example.com`) });
          const mark = receiver.received.length;
          await w.drain();
          assert.equal(receiver.received.length - mark, 1, name);
          const list = (await api('GET', `/webhooks/${main.id}/deliveries?status=pending`)).body.data;
          const d = list[list.length - 1];
          outcomes.push(`${name}: ${d.last_status ?? '-'} ${d.last_error}`);
          const wait = Date.parse(d.next_attempt_at) - Date.parse(d.last_attempt_at);
          if (name === '429') {
            assert.equal(wait, 120_000, 'Retry-After: 120 beats the 5 s schedule');
            const paused = (await api('GET', `/webhooks/${main.id}`)).body.paused_until;
            assert.equal(Date.parse(paused) - Date.parse(d.last_attempt_at), 120_000);
          } else if (name === '503') {
            assert.ok(Math.abs(wait - 3 * 3600_000) < 1000, 'an HTTP-date Retry-After');
          } else assert.equal(wait, 5000);
          // Settle: the receiver answers 200 from now on and time moves past every wait, so the next case starts clean.
          receiver.answer = () => ({ status: 200 });
          clock.t += 4 * 3600_000;
          await w.drain();
        }
        assert.match(outcomes[0], /timeout/);
        assert.match(outcomes[1], /302 .*redirects are not followed/);
        assert.ok(!receiver.received.some((r) => r.headers.host && r.event && false));
        assert.match(outcomes[2], /500 the receiver answered 500/);
        assert.match(outcomes[3], /429/);
        assert.match(outcomes[4], /503/);
        // The refused endpoint saw every event fail with "connection refused", and keeps retrying them.
        const refusedList = (await api('GET', `/webhooks/${refused.id}/deliveries`)).body.data;
        assert.ok(refusedList.length >= 5);
        assert.ok(refusedList.every((d: { status: string; last_error: string }) => d.status === 'pending' && d.last_error === 'connection refused'));
      } finally {
        receiver.answer = () => ({ status: 200 });
        await w.close();
        await deleteEndpoint(refused.id);
        await deleteEndpoint(main.id);
      }
    });

    test("a new URL ends the old receiver's pause, and its pending deliveries go to the new one at once", async () => {
      const clock = { t: Date.now() + 1000 };
      const w = worker(clock);
      const ep = await endpoint();
      try {
        receiver.answer = () => ({ status: 429, headers: { 'retry-after': '3600' } });
        await scim('POST', '/Users', { body: user('moved-url@example.com') });
        await w.drain();
        assert.ok((await api('GET', `/webhooks/${ep.id}`)).body.paused_until, 'paused by the old receiver for an hour');
        receiver.answer = () => ({ status: 200 });
        // The same receiver under another path stands for the new one.
        const moved = await api('PATCH', `/webhooks/${ep.id}`, { url: `${receiver.url}/new` });
        assert.equal(moved.status, 200, moved.text);
        assert.equal(moved.body.paused_until, null);
        const mark = receiver.received.length;
        await w.drain(); // the worker's clock has not moved: the old receiver's hour is not waited out
        assert.equal(receiver.received.length - mark, 1);
        assert.equal((await api('GET', `/webhooks/${ep.id}/deliveries?status=pending`)).body.data.length, 0);
      } finally {
        receiver.answer = () => ({ status: 200 });
        await w.close();
        await deleteEndpoint(ep.id);
      }
    });

    test('410 disables the endpoint: later events wait, and enabling it again delivers them', async () => {
      const ep = await endpoint();
      const w = worker();
      try {
        receiver.answer = () => ({ status: 410 });
        const since = new Date().toISOString();
        await scim('POST', '/Users', { body: user('gone@example.com') });
        await w.drain();
        const state = (await api('GET', `/webhooks/${ep.id}`)).body;
        assert.equal(state.enabled, false);
        assert.match(state.disabled_reason, /410/);
        const [failed] = (await api('GET', `/webhooks/${ep.id}/deliveries?status=failed`)).body.data;
        assert.equal(failed.last_status, 410);
        receiver.answer = () => ({ status: 200 });
        const mark = receiver.received.length;
        await scim('POST', '/Users', { body: user('while-disabled@example.com') });
        assert.equal(await w.drain(), 0);
        assert.equal(receiver.received.length, mark, 'nothing is sent to a disabled endpoint');
        assert.equal((await api('PATCH', `/webhooks/${ep.id}`, { enabled: true })).body.enabled, true);
        await w.drain();
        assert.deepEqual(receiver.received.slice(mark).map((r) => r.event.data.userName), ['while-disabled@example.com']);
        // Replaying everything since a time sends both again, with their original ids.
        const replay = await api('POST', `/webhooks/${ep.id}/replay`, { since });
        assert.equal(replay.body.replayed, 2);
        await w.drain();
        assert.deepEqual(receiver.received.slice(mark + 1).map((r) => r.event.data.userName).sort(), ['gone@example.com', 'while-disabled@example.com']);
      } finally {
        receiver.answer = () => ({ status: 200 });
        await w.close();
        await deleteEndpoint(ep.id);
      }
    });

    test('per-resource order holds while the receiver fails intermittently; different resources go concurrently', async () => {
      const ep = await endpoint();
      // A little ahead of the store's clock, so the deliveries it creates from now on are due.
      const clock = { t: Date.now() + 1000 };
      const w = worker(clock);
      const random = prng(42);
      try {
        const ids: string[] = [];
        for (let i = 0; i < 6; i++) ids.push((await scim('POST', '/Users', { body: user(`order-${i}@example.com`) })).body.id);
        for (let round = 0; round < 8; round++) {
          for (const id of ids) await scim('PATCH', `/Users/${id}`, { body: patchOp({ op: 'replace', path: 'title', value: `r${round}` }) });
        }
        // The receiver checks order as events arrive: for each resource, every earlier event must have succeeded.
        const succeeded = new Map<string, number[]>();
        const violations: string[] = [];
        let concurrent = 0;
        let maxConcurrent = 0;
        receiver.answer = (r) => {
          const resource = String(r.event.data.id);
          const done = succeeded.get(resource) ?? [];
          const expected = done.length === 0 ? undefined : done[done.length - 1];
          if (expected !== undefined && r.event.sequence < expected) violations.push(`${resource}: ${r.event.sequence} after ${expected}`);
          const ok = random() > 0.3;
          if (ok) {
            done.push(r.event.sequence);
            succeeded.set(resource, done);
          }
          return { status: ok ? 200 : 500 };
        };
        const mark = receiver.received.length;
        for (let i = 0; i < 200; i++) {
          const started = await w.runOnce();
          concurrent = started;
          maxConcurrent = Math.max(maxConcurrent, concurrent);
          const pending = (await api('GET', `/webhooks/${ep.id}/deliveries?status=pending&limit=1`)).body.data.length;
          if (pending === 0) break;
          clock.t += 3600_000;
        }
        assert.deepEqual(violations, []);
        const arrivals = receiver.received.slice(mark);
        for (const id of ids) {
          const order = succeeded.get(id) ?? [];
          assert.equal(order.length, 9, 'created and eight updates');
          assert.deepEqual(order, [...order].sort((a, b) => a - b), 'delivered in sequence order');
          // A resource's next event was never sent while an earlier one was still pending.
          const sent = arrivals.filter((r) => r.event.data.id === id).map((r) => r.event.sequence);
          for (let i = 1; i < sent.length; i++) assert.ok(sent[i] >= sent[i - 1], `${id}: ${sent.join(',')}`);
        }
        assert.ok(arrivals.length > 54, 'some attempts failed and were retried');
        assert.ok(maxConcurrent >= 6, `resources went concurrently (${maxConcurrent} in one round)`);
      } finally {
        receiver.answer = () => ({ status: 200 });
        await w.close();
        await deleteEndpoint(ep.id);
      }
    });

    // A backlog longer than one fan-out batch (5,000 events) is delivered whole without waiting for the poll: the
    // worker used to fan out the next batch only at its next poll (here an hour away). The timeout guards a hang.
    test('a backlog longer than one fan-out batch is delivered without waiting for the poll', { timeout: 180_000 }, async () => {
      const ep = await endpoint();
      const backlog = 5_050;
      await (h.store as SqlStore).bulkCreate(h.org.id, 'User', Array.from({ length: backlog }, (_, i) => user(`backlog-${i}@example.com`)));
      const mark = receiver.received.length;
      let arrived!: () => void;
      const all = new Promise<void>((resolve) => (arrived = resolve));
      receiver.answer = (_r, i) => {
        if (i + 1 - mark === backlog) arrived();
        return { status: 200 };
      };
      const w = new DeliveryWorker({ store: h.store, allowHttp: true, pollMs: 3_600_000 });
      try {
        w.start();
        await all;
        const ids = new Set(receiver.received.slice(mark).map((r) => r.event.data.userName as string));
        assert.equal(ids.size, backlog);
      } finally {
        receiver.answer = () => ({ status: 200 });
        await w.stop();
        await deleteEndpoint(ep.id);
      }
    });

    // An event committed while the worker fans out asks for another fan-out: once it was forgotten, and the event
    // waited for the next poll (here an hour away). The timeout guards that hang.
    test('an event committed during a fan-out is delivered without waiting for the poll', { timeout: 120_000 }, async () => {
      const ep = await endpoint();
      let writeDuringFanOut = true;
      const store: typeof h.store = Object.create(h.store);
      store.fanOutEvents = async () => {
        const result = await h.store.fanOutEvents();
        if (writeDuringFanOut) {
          writeDuringFanOut = false;
          await h.store.create(h.org.id, 'User', user('during-fan-out@example.com'));
        }
        return result;
      };
      let arrived!: () => void;
      const delivered = new Promise<void>((resolve) => (arrived = resolve));
      receiver.answer = (r) => {
        if (r.event.data.userName === 'during-fan-out@example.com') arrived();
        return { status: 200 };
      };
      const w = new DeliveryWorker({ store, allowHttp: true, pollMs: 3_600_000 });
      try {
        await scim('POST', '/Users', { body: user('before-fan-out@example.com') });
        w.start();
        await delivered;
      } finally {
        receiver.answer = () => ({ status: 200 });
        await w.stop();
        await deleteEndpoint(ep.id);
      }
    });

    test('metrics: events written, deliveries by outcome, delivery latency, oldest undelivered event', async () => {
      const ep = await endpoint();
      const metrics = new EventMetrics();
      const w = new DeliveryWorker({ store: h.store, allowHttp: true, metrics });
      try {
        receiver.answer = (_r, i) => ({ status: i % 2 === 0 ? 500 : 200 });
        await scim('POST', '/Users', { body: user('metrics-1@example.com') });
        await scim('POST', '/Users', { body: user('metrics-2@example.com') });
        await w.drain();
        // One of the two failed and waits 5 s for its retry: the oldest undelivered event is that one.
        await metrics.refresh(h.store);
        const text = metrics.render();
        assert.match(text, /scimkit_webhook_deliveries_total\{outcome="succeeded"\} 1/);
        assert.match(text, /scimkit_webhook_deliveries_total\{outcome="retried"\} 1/);
        assert.match(text, /scimkit_webhook_delivery_latency_seconds_count 1/);
        assert.match(text, /scimkit_webhook_oldest_undelivered_seconds (?!0\n)\d/);
        const served = await (await fetch(`${h.origin}/metrics`)).text();
        assert.match(served, /scimkit_events_written_total\{type="user.created"\} \d+/);
        assert.match(served, /# TYPE scimkit_webhook_delivery_latency_seconds histogram/);
      } finally {
        receiver.answer = () => ({ status: 200 });
        await w.close();
        await deleteEndpoint(ep.id);
      }
    });
  });
}
