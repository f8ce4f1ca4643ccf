/**
 * infra/dev/temporal start|stop|status — the embedded Temporal dev server on its own.
 * Same data dir and port settings as the main command.
 *
 * infra/dev/temporal search-attributes — registers the project's search attributes on the cluster
 * that the `TEMPORAL_*` environment names (address, namespace, TLS / mTLS, API key: the worker's
 * and the API's settings), for a self-hosted cluster; idempotent.
 */
import { TemporalConfigError, temporalConnectionFromEnv } from '@oneflow/contracts/temporal-connection';
import { dataDir } from './paths.js';
import { ensureSearchAttributes, readTemporalState, startTemporalDev, stopTemporalDev } from './temporal.js';

const command = process.argv[2];
const dir = dataDir();
const rawPort = process.env['ONEFLOW_TEMPORAL_PORT'];
const port = rawPort ? Number(rawPort) : 7233;

switch (command) {
  case 'start': {
    const s = await startTemporalDev({ dataDir: dir, port });
    console.log(
      `${s.startedHere ? 'started' : 'already running'}: ${s.address} (pid ${s.pid}) ui ${s.uiUrl ?? '-'} store ${s.dbFile ?? '-'}`,
    );
    break;
  }
  case 'stop':
    console.log((await stopTemporalDev(dir)) ? 'stopped' : 'not running');
    break;
  case 'status': {
    const s = readTemporalState(dir);
    console.log(s ? `running: ${s.address} (pid ${s.pid}) store ${s.dbFile ?? '-'}` : 'not running');
    process.exitCode = s ? 0 : 3;
    break;
  }
  case 'search-attributes': {
    try {
      const t = temporalConnectionFromEnv(process.env);
      const added = await ensureSearchAttributes(t.address, t.namespace, t.connection);
      console.log(
        `${t.address} namespace ${t.namespace}: ${added.length > 0 ? `added ${added.join(', ')}` : 'all search attributes present'}`,
      );
    } catch (error) {
      if (!(error instanceof TemporalConfigError)) throw error;
      console.error(error.message);
      process.exitCode = 2;
    }
    break;
  }
  default:
    console.error('usage: infra/dev/temporal start|stop|status|search-attributes');
    process.exitCode = 2;
}
