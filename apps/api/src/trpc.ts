import { initTRPC } from '@trpc/server';
import type { InnerContext } from './context.js';

const t = initTRPC.context<InnerContext>().create();

export const router = t.router;
export const publicProcedure = t.procedure;
export const createCallerFactory = t.createCallerFactory;
