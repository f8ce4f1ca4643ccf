import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedWebhook {
  headers: IncomingHttpHeaders;
  /** The raw body, as signed. */
  body: string;
  status: number;
}

/**
 * A local webhook receiver for tests: answers 503 to the first `failFirst` attempts of each
 * message (`webhook-id`), then 204, and keeps every request it got.
 */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  failFirst = 0;
  url = '';
  private server: Server | null = null;

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const seen = this.received.filter((r) => r.headers['webhook-id'] === req.headers['webhook-id']).length;
        const status = seen < this.failFirst ? 503 : 204;
        this.received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), status });
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/oneflow`;
  }

  /** The requests whose payload is about generation `id` (`data.id`). */
  of(id: string): ReceivedWebhook[] {
    return this.received.filter((r) => (JSON.parse(r.body) as { data: { id: string } }).data.id === id);
  }

  close(): Promise<void> {
    const server = this.server;
    return server ? new Promise((resolve) => server.close(() => resolve())) : Promise.resolve();
  }
}
