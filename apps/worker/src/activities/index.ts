import type { Logger } from 'pino';
import { createSmokeActivities } from './smoke.js';

/** Heavy, per-process resources the activities share (models, checkpoint store…). */
export interface ActivityDeps {
  logger: Logger;
}

/** Built once per worker process; tests inject fakes of our own interfaces here. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createSmokeActivities(deps),
  };
}
export type Activities = ReturnType<typeof createActivities>;
