import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO_ROOT } from './paths.js';
import { freePort, isListening } from './ports.js';

/** A local S3-compatible server for tests: moto's server mode, installed by `infra/dev/setup s3`. */
export interface LocalS3Server {
  endpoint: string;
  stop(): Promise<void>;
}

export const MOTO_DIR = path.join(REPO_ROOT, '.tools', 'moto');

export async function startLocalS3(options: { port?: number; timeoutMs?: number } = {}): Promise<LocalS3Server> {
  if (!existsSync(path.join(MOTO_DIR, 'moto'))) {
    throw new Error(`moto (the local S3-compatible server) is not installed in ${MOTO_DIR}: run infra/dev/setup s3`);
  }
  // A free port can be taken by another process before moto binds it: then moto exits, and the
  // port answering is somebody else's. Retry on a new port until our own process serves it.
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await freePort());
    const child = spawn('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], {
      env: { ...process.env, PYTHONPATH: MOTO_DIR, PYTHONDONTWRITEBYTECODE: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    while (child.exitCode === null && !stderr.includes('Running on') && Date.now() < deadline) await sleep(100);
    if (child.exitCode === null && stderr.includes('Running on') && (await isListening(port))) {
      return {
        endpoint: `http://127.0.0.1:${port}`,
        async stop() {
          if (child.exitCode === null) child.kill('SIGTERM');
          await Promise.race([exited, sleep(5000).then(() => child.kill('SIGKILL'))]);
        },
      };
    }
    child.kill('SIGKILL');
    if (options.port !== undefined || attempt >= 3) throw new Error(`local S3 server did not start on port ${port}:\n${stderr}`);
  }
}
