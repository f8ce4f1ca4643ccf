/**
 * infra/dev/temporal start|stop|status — the embedded Temporal dev server on its own.
 * Same data dir and port settings as the main command.
 */
import { dataDir } from './paths.js';
import { readTemporalState, startTemporalDev, stopTemporalDev } from './temporal.js';

const command = process.argv[2];
const dir = dataDir();
const rawPort = process.env['ONEFLOW_TEMPORAL_PORT'];
const port = rawPort ? Number(rawPort) : 7233;

switch (command) {
  case 'start': {
    const s = await startTemporalDev({ dataDir: dir, port });
    console.log(`${s.startedHere ? 'started' : 'already running'}: ${s.address} (pid ${s.pid}) ui ${s.uiUrl ?? '-'} store ${s.dbFile ?? '-'}`);
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
  default:
    console.error('usage: infra/dev/temporal start|stop|status');
    process.exitCode = 2;
}
