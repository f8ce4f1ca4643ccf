import { builtinModules } from 'node:module';
import { defineConfig, type Plugin } from 'vite';

const NODE_BUILTINS = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);

/** The bundle runs in browsers: an import of a Node built-in (e.g. the SDK's Node entry) fails the build. */
function noNodeBuiltins(): Plugin {
  return {
    name: 'oneflow:no-node-builtins',
    enforce: 'pre',
    resolveId(source, importer) {
      if (NODE_BUILTINS.has(source)) this.error(`the browser bundle imports the Node built-in '${source}' (from ${importer ?? '?'})`);
      return null;
    },
  };
}

// The playground, served by the API process at `/` from `dist/` (same origin: no CORS, one URL).
export default defineConfig({
  root: import.meta.dirname,
  plugins: [noNodeBuiltins()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 600 },
  server: {
    proxy: Object.fromEntries(
      ['/trpc', '/api', '/generations', '/openapi.json'].map((p) => [p, process.env['ONEFLOW_API_URL'] ?? 'http://127.0.0.1:3000']),
    ),
  },
});
