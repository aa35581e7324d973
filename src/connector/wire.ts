/**
 * The connector's HTTP transport, on node:http and node:https: keep-alive connections, one request at a time per
 * call, the body as it arrives. It replaces undici's fetch, whose module alone cost a sync about 0.1 s of CPU and
 * 20 MB of resident memory to load (node:http: 5 ms and 3 MB). Like fetch, it asks for compressed bodies and
 * inflates them, which matters for a remote source (a page of 1,000 users is about 1.4 MB of JSON).
 */
import { Agent, request as plainRequest, type IncomingHttpHeaders, type IncomingMessage, type RequestOptions } from 'node:http';
import type { Readable, Transform } from 'node:stream';

/** Response headers by lower-case name (repeated ones joined with ", ", as fetch's Headers does). */
export interface ResponseHeaders {
  get(name: string): string | null;
}

/** A response body as it arrives; `cancel` drops the rest and the connection with it. */
export interface ResponseBody extends AsyncIterable<Uint8Array> {
  cancel(): Promise<void>;
}

export interface WireResponse {
  readonly status: number;
  readonly headers: ResponseHeaders;
  readonly body: ResponseBody;
}

export interface WireRequest {
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  /** Aborts the request, and the body while it is being read. */
  readonly signal: AbortSignal;
}

function headersOf(raw: IncomingHttpHeaders): ResponseHeaders {
  return {
    get(name) {
      const v = raw[name.toLowerCase()];
      if (v === undefined) return null;
      return Array.isArray(v) ? v.join(', ') : v;
    },
  };
}

/** The decoder for a Content-Encoding, loaded only when a server compresses. */
async function inflate(encoding: string | undefined): Promise<(() => Transform) | null> {
  const e = encoding?.trim().toLowerCase();
  if (!e || e === 'identity') return null;
  const zlib = await import('node:zlib');
  if (e === 'gzip' || e === 'x-gzip') return () => zlib.createGunzip();
  if (e === 'deflate') return () => zlib.createInflate();
  if (e === 'br') return () => zlib.createBrotliDecompress();
  throw new Error(`the server sent a body in an unsupported Content-Encoding (${e})`);
}

export class Wire {
  private readonly http: Agent;
  private https: Agent | null = null;

  constructor(private readonly connections: number) {
    this.http = new Agent({ keepAlive: true, maxSockets: connections });
  }

  async request(url: URL, req: WireRequest): Promise<WireResponse> {
    const secure = url.protocol === 'https:';
    let send = plainRequest;
    let agent = this.http;
    if (secure) {
      // TLS loads only for an https source.
      const https = await import('node:https');
      this.https ??= new https.Agent({ keepAlive: true, maxSockets: this.connections });
      send = https.request as typeof plainRequest;
      agent = this.https;
    }
    const options: RequestOptions = {
      method: req.method,
      headers: { ...req.headers, 'accept-encoding': 'gzip, deflate, br', ...(req.body === undefined ? {} : { 'content-length': String(Buffer.byteLength(req.body)) }) },
      agent,
      signal: req.signal,
    };
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const outgoing = send(url, options, resolve);
      outgoing.once('error', reject);
      outgoing.end(req.body);
    });
    let stream: Readable = res;
    try {
      const decoder = await inflate(res.headers['content-encoding']);
      if (decoder) {
        const inflated = decoder();
        // An error on either side ends the body's iteration with it.
        res.once('error', (err) => inflated.destroy(err));
        stream = res.pipe(inflated);
      }
    } catch (err) {
      res.destroy();
      throw err;
    }
    const body: ResponseBody = {
      [Symbol.asyncIterator]: () => stream[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>,
      cancel: async () => {
        stream.destroy();
        res.destroy();
      },
    };
    return { status: res.statusCode ?? 0, headers: headersOf(res.headers), body };
  }

  close(): void {
    this.http.destroy();
    this.https?.destroy();
  }
}
