import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CPU_TASK_QUEUE, WEBHOOK_EVENTS, WORKFLOWS, type WebhookDeliveryInput } from '@oneflow/contracts';
import { parseWebhookAllowlist, WEBHOOK_TARGET_REFUSED } from '@oneflow/contracts/webhook-target';
import { createWebhookActivities } from './webhook.js';
import type { HostResolver } from './outbound-http.js';

// The delivery activity's outbound-HTTP rules, on the real dev server with a real worker running
// the `webhook` workflow: a refused target fails at once (not retried), a redirect is a failed
// attempt that is retried and never followed.
const NAMESPACE = 'test-webhook-target';
// The workflow bundle only (the worker module would load the model side too).
const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));
const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const resolved: string[] = [];
/** Our resolver seam: `private.example.test` resolves to a private address, like a DNS name aimed inside. */
const resolver: HostResolver = async (host) => {
  resolved.push(host);
  if (host === 'private.example.test') return [{ address: '10.9.8.7', family: 4 }];
  throw new Error(`getaddrinfo ENOTFOUND ${host}`);
};

let nativeConnection: NativeConnection;
let worker: Worker;
let running: Promise<void>;
let client: Client;
const hits: { path: string }[] = [];
let server: Server;
let port = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    hits.push({ path: req.url ?? '' });
    req.resume();
    req.on('end', () => {
      if (req.url === '/redirect') res.writeHead(302, { location: `http://127.0.0.1:${port}/inside` }).end();
      else res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  nativeConnection = await NativeConnection.connect({ address: inject('temporalAddress') });
  worker = await Worker.create({
    connection: nativeConnection,
    namespace: NAMESPACE,
    taskQueue: CPU_TASK_QUEUE,
    workflowsPath,
    activities: createWebhookActivities({
      logger: pino({ level: 'silent' }),
      webhookSecrets: new Map([['acme', SECRET]]),
      // The local receiver by address only: the name below is not on the list.
      targetPolicy: parseWebhookAllowlist('127.0.0.1'),
      resolver,
    }),
  });
  running = worker.run();
  client = new Client({ connection: await Connection.connect({ address: inject('temporalAddress') }), namespace: NAMESPACE });
});
afterAll(async () => {
  worker?.shutdown();
  await running;
  await nativeConnection?.close();
  await client?.connection.close();
  await new Promise<void>((r) => server.close(() => r()));
});

async function deliver(url: string): Promise<{ status: number; attempt: number }> {
  const id = randomUUID();
  const input: WebhookDeliveryInput = {
    tenant: 'acme',
    target: { url, events: [...WEBHOOK_EVENTS] },
    messageId: `msg_${id}`,
    payload: {
      type: 'generation.succeeded',
      timestamp: new Date().toISOString(),
      data: { id, state: 'succeeded', batchId: null, step: 1, text: '', imageClocks: [], checkpointId: null, error: null },
    },
    retry: { initialIntervalMs: 100, maximumIntervalMs: 200, maximumAttempts: 3 },
  };
  const result: unknown = await client.workflow.execute(WORKFLOWS.webhook, {
    taskQueue: CPU_TASK_QUEUE,
    workflowId: `wh-${id}`,
    args: [input],
  });
  return result as { status: number; attempt: number };
}

/** The ApplicationFailure behind a failed `webhook` workflow. */
async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const error = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WorkflowFailedError);
  const activity = (error as WorkflowFailedError).cause;
  expect(activity).toBeInstanceOf(ActivityFailure);
  const failure = (activity as ActivityFailure).cause;
  expect(failure).toBeInstanceOf(ApplicationFailure);
  return failure as ApplicationFailure;
}

describe('deliverWebhook target rules', () => {
  it('delivers to an allowlisted local receiver', async () => {
    expect(await deliver(`http://127.0.0.1:${port}/ok`)).toEqual({ status: 204, attempt: 1 });
    expect(hits.filter((h) => h.path === '/ok')).toHaveLength(1);
  });

  it('a DNS name that resolves to a non-public address fails at once (WebhookTargetRefused, one attempt, nothing sent)', async () => {
    const before = hits.length;
    const failure = await failureOf(deliver(`http://private.example.test:${port}/ok`));
    expect(failure.type).toBe(WEBHOOK_TARGET_REFUSED);
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toBe('webhook host private.example.test resolves to 10.9.8.7 is private');
    expect(resolved.filter((h) => h === 'private.example.test')).toHaveLength(1);
    expect(hits.length).toBe(before);
  });

  it('a literal private address is refused the same way without a lookup', async () => {
    const failure = await failureOf(deliver('http://10.0.0.1/hook'));
    expect(failure.type).toBe(WEBHOOK_TARGET_REFUSED);
    expect(failure.message).toMatch(/^webhook host 10\.0\.0\.1 is private/);
  });

  it('a 302 is a failed attempt, retried, and the Location is never fetched', async () => {
    const failure = await failureOf(deliver(`http://127.0.0.1:${port}/redirect`));
    expect(failure.message).toBe('webhook receiver answered 302 (redirects are not followed)');
    expect(failure.nonRetryable).toBe(false);
    expect(hits.filter((h) => h.path === '/redirect')).toHaveLength(3);
    expect(hits.filter((h) => h.path === '/inside')).toHaveLength(0);
  });
});
