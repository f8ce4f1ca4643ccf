import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { SearchAttributeName } from './names.js';

// Typed keys of the custom search attributes (SEARCH_ATTRIBUTES), for the workflows that upsert
// them and the API that filters on them.
const keyword = (name: SearchAttributeName) => defineSearchAttributeKey(name, SearchAttributeType.KEYWORD);
export const stateKey = keyword('OneflowState');
export const modelKey = keyword('OneflowModel');
export const tenantKey = keyword('OneflowTenant');
export const batchKey = keyword('OneflowBatchId');
export const parentKey = keyword('OneflowParentId');
export const stepKey = defineSearchAttributeKey('OneflowStep' satisfies SearchAttributeName, SearchAttributeType.INT);
