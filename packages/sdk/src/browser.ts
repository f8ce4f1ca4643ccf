import { EventSource } from 'eventsource';
import { createCoreClient, type ClientOptions, type EventSourceCtor } from './core.js';

// The browser entry: the same client as `@oneflow/sdk` over the browser's fetch, without the Node
// built-ins of the Node entry (file helpers, webhook verification). Browsers' own EventSource cannot
// send headers; the `eventsource` package's can (custom fetch), so the API key never goes in a URL.

export * from './core.js';

/** The typed OneFlow client for browsers (and any runtime with `fetch`). */
export function createClient(options: ClientOptions) {
  return createCoreClient(options, EventSource as unknown as EventSourceCtor);
}
export type OneflowClient = ReturnType<typeof createClient>;
