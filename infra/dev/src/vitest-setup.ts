import { DefaultLogger, Runtime } from '@temporalio/worker';

// Keep test output readable: the SDK's worker runtime logs state changes at INFO.
Runtime.install({ logger: new DefaultLogger('ERROR') });
