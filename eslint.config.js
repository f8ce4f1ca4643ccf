// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Imports a workflow file must never make: they break Temporal's deterministic sandbox. */
export const workflowRestrictedImports = {
  paths: [
    { name: 'onnxruntime-node', message: 'Workflows must not run models: call an activity.' },
    { name: '@oneflow/sampler', message: 'Workflows handle checkpoint ids only: call an activity.', allowTypeImports: true },
    { name: 'pino', message: 'Use `log` from @temporalio/workflow in workflows.' },
  ],
  patterns: [
    { group: ['node:*'], message: 'Node built-ins are not deterministic: use an activity.' },
    {
      group: [
        'fs',
        'fs/*',
        'path',
        'os',
        'crypto',
        'child_process',
        'worker_threads',
        'http',
        'https',
        'net',
        'stream',
        'timers',
        'timers/*',
        'url',
        'util',
        'zlib',
      ],
      message: 'Node built-ins are not deterministic: use an activity.',
    },
    { group: ['@temporalio/worker', '@temporalio/client', '@temporalio/activity'], message: 'Workflows import only @temporalio/workflow.' },
    {
      group: ['**/activities/*', '!**/activities/index.js'],
      message: 'Import activity *types* from ../activities/index.js.',
      allowTypeImports: true,
    },
  ],
};

export default tseslint.config(
  { ignores: ['**/node_modules/**', '.tools/**', '.oneflow/**', '**/dist/**', 'training/**', 'models/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['*.js'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      // TypeScript checks undefined names (and knows globals such as performance).
      'no-undef': 'off',
      // Async functions without await are how activities and probes conform to Promise-returning interfaces.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['apps/worker/src/workflows/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: { 'no-restricted-imports': ['error', workflowRestrictedImports] },
  },
  {
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);
