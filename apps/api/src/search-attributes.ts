import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { SearchAttributeName } from '@oneflow/contracts';

// Typed keys of the attributes the dev stack registers (contracts SEARCH_ATTRIBUTES).
const keyword = (name: SearchAttributeName) => defineSearchAttributeKey(name, SearchAttributeType.KEYWORD);
export const stateKey = keyword('OneflowState');
export const modelKey = keyword('OneflowModel');
export const tenantKey = keyword('OneflowTenant');
export const batchKey = keyword('OneflowBatchId');
export const parentKey = keyword('OneflowParentId');
export const stepKey = defineSearchAttributeKey('OneflowStep' satisfies SearchAttributeName, SearchAttributeType.INT);
