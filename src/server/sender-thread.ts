/**
 * A Sender on a worker thread, which `serve` uses: the thread signs and posts (an HttpSender), so that a delivery
 * costs the thread that answers SCIM requests only its bookkeeping in the store (BENCHMARKS.md, "Events").
 * Requests and results cross in batches, one message per turn of each thread's event loop (batching over a 2 ms
 * timer instead doubled the p99 from a SCIM write to its webhook's arrival, measured). A thread that dies fails
 * the requests it held, as a network error would (they are retried on the schedule), and the next request starts a
 * new one.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { HttpSender } from './webhook-sender.ts';
import type { SendResult, Sender, SenderOptions, WebhookRequest } from './webhook-sender.ts';

interface Numbered<T> {
  readonly id: number;
  readonly value: T;
}

/** Starts the sender thread with these options (the module below is its entry). */
interface SenderThreadData {
  readonly scimkitSender: SenderOptions;
}

/** Collects values and hands them on together at the end of the current turn of the event loop. */
function batcher<T>(deliver: (batch: T[]) => void): (value: T) => void {
  let batch: T[] = [];
  return (value) => {
    batch.push(value);
    if (batch.length > 1) return;
    setImmediate(() => {
      const out = batch;
      batch = [];
      deliver(out);
    });
  };
}

/**
 * This module, as a worker's entry. Run from the TypeScript sources (tests, tsx), the thread registers tsx itself:
 * on Node 20 the loader hooks that `--import tsx` installs do not reach worker threads.
 */
function threadEntry(): [URL | string, { eval?: boolean }] {
  const entry = new URL(import.meta.url);
  if (!entry.pathname.endsWith('.ts')) return [entry, {}];
  return [`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); });`, { eval: true }];
}

export class ThreadSender implements Sender {
  private thread: Worker | null = null;
  private nextId = 0;
  private readonly waiting = new Map<number, (result: SendResult) => void>();
  private readonly post = batcher<Numbered<WebhookRequest>>((batch) => this.running().postMessage(batch));

  constructor(private readonly options: SenderOptions) {
    // Started now, so that its start-up overlaps the server's rather than delaying the first delivery.
    this.running();
  }

  send(request: WebhookRequest): Promise<SendResult> {
    return new Promise((resolve) => {
      const id = this.nextId++;
      this.waiting.set(id, resolve);
      this.post({ id, value: request });
    });
  }

  /** Ends the thread; call it once no send is under way (the delivery worker does). */
  async close(): Promise<void> {
    const thread = this.thread;
    this.thread = null;
    await thread?.terminate();
  }

  private running(): Worker {
    if (this.thread !== null) return this.thread;
    const data: SenderThreadData = { scimkitSender: this.options };
    const [entry, options] = threadEntry();
    const thread = new Worker(entry, { ...options, workerData: data });
    thread.on('message', (results: Numbered<SendResult>[]) => {
      for (const { id, value } of results) {
        this.waiting.get(id)?.(value);
        this.waiting.delete(id);
      }
    });
    let failure = 'the webhook sender thread ended';
    thread.on('error', (err) => {
      failure = `the webhook sender thread failed: ${err.message}`;
    });
    thread.on('exit', () => {
      if (this.thread === thread) this.thread = null;
      for (const resolve of this.waiting.values()) resolve({ error: failure });
      this.waiting.clear();
    });
    this.thread = thread;
    return thread;
  }
}

if (!isMainThread && parentPort !== null && (workerData as Partial<SenderThreadData> | null)?.scimkitSender !== undefined) {
  const port = parentPort;
  const sender = new HttpSender((workerData as SenderThreadData).scimkitSender);
  const answer = batcher<Numbered<SendResult>>((batch) => port.postMessage(batch));
  port.on('message', (batch: Numbered<WebhookRequest>[]) => {
    for (const { id, value } of batch) void sender.send(value).then((result) => answer({ id, value: result }));
  });
}
