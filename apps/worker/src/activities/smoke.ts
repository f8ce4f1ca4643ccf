import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { SmokeResult } from '@oneflow/contracts';
import type { ActivityDeps } from './index.js';

export function createSmokeActivities({ logger }: ActivityDeps) {
  return {
    /** Answers a greeting from whichever task queue ran it: proves the GPU queue is served. */
    async smokeGreet(name: string): Promise<SmokeResult> {
      if (name.trim().length === 0) {
        throw ApplicationFailure.nonRetryable('name must not be blank', 'BadInput');
      }
      const info = Context.current().info;
      logger.info({ workflowId: info.workflowExecution?.workflowId, taskQueue: info.taskQueue }, 'smoke activity');
      return { greeting: `hello, ${name}`, taskQueue: info.taskQueue, activityAttempt: info.attempt };
    },
  };
}
