import type { JobDeps } from '../context.js';
import type { Workflows } from './workflows.js';

/** What a job service works with: Temporal (as {@link Workflows}), the job dependencies, and the caller's tenant. */
export interface JobScope {
  workflows: Workflows;
  jobs: JobDeps;
  tenant: string;
}
