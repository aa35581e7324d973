/** A real HTTP receiver on loopback for webhook tests: records every request and answers as the test says. */
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly event: { id: string; type: string; sequence: number; data: Record<string, any> };
}

export interface Answer {
  readonly status?: number;
  readonly headers?: Record<string, string>;
  /** Never answer (the sender's timeout decides). */
  readonly hang?: boolean;
  /** Answer once this settles. */
  readonly after?: Promise<unknown>;
}

export interface Receiver {
  readonly url: string;
  readonly received: Received[];
  /** Decides each answer; 200 by default. Set it at any time. */
  answer: (request: Received, index: number) => Answer;
  close(): Promise<void>;
}

export async function startReceiver(path = '/hook'): Promise<Receiver> {
  const sockets = new Set<Socket>();
  const receiver: Receiver = {
    url: '',
    received: [],
    answer: () => ({ status: 200 }),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const got: Received = { headers: req.headers, body, event: JSON.parse(body) };
      const index = receiver.received.length;
      receiver.received.push(got);
      const answer = receiver.answer(got, index);
      if (answer.hang) return;
      const respond = () => {
        res.writeHead(answer.status ?? 200, answer.headers ?? {});
        res.end('ok');
      };
      if (answer.after) void answer.after.finally(respond);
      else respond();
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  (receiver as { url: string }).url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`;
  return receiver;
}

/** A loopback port nothing listens on (a connection to it is refused). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
