import { DefaultLogger, Runtime } from '@temporalio/worker';

// Keep test output readable: the SDK's worker runtime logs state changes at INFO.
Runtime.install({ logger: new DefaultLogger('ERROR') });

// The tests' webhook receivers listen on 127.0.0.1, which webhooks may not reach by default; the
// worker processes the tests start inherit this. Tests of the target rules pass their own policy.
process.env['ONEFLOW_WEBHOOK_ALLOW'] ??= '127.0.0.1';
