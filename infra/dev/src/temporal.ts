import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { DEFAULT_NAMESPACE, SEARCH_ATTRIBUTES } from '@oneflow/contracts';
import {
  plainTemporalConnection,
  temporalConnectionEnvShape,
  type TemporalConnectionOptions,
} from '@oneflow/contracts/temporal-connection';
import proto from '@temporalio/proto';
import { temporalBinary } from './paths.js';
import { isListening } from './ports.js';

/**
 * Environment for a process that talks to a local plaintext dev server: its address and namespace,
 * every other `TEMPORAL_*` connection setting blanked (empty = unset), so TLS or an API key meant for
 * a real cluster in the caller's shell cannot leak into the embedded stack.
 */
export function localTemporalEnv(address: string, namespace: string): Record<string, string> {
  return {
    ...Object.fromEntries(Object.keys(temporalConnectionEnvShape).map((k) => [k, ''])),
    TEMPORAL_ADDRESS: address,
    TEMPORAL_NAMESPACE: namespace,
  };
}

export interface TemporalDevOptions {
  /** The server's files live in `<dataDir>/temporal/`: SQLite store, log, state file. */
  dataDir: string;
  /** Front-end gRPC port on 127.0.0.1 (default 7233). */
  port?: number;
  /** Web UI port; `null` runs headless (default: port + 1000). */
  uiPort?: number | null;
  namespace?: string;
  /** More namespaces to create at start (each gets the project's search attributes). */
  extraNamespaces?: readonly string[];
  /** Dynamic config values (`KEY=JSON`), e.g. low history limits in tests. */
  dynamicConfig?: Record<string, string | number | boolean>;
  /** Keep workflows across restarts in a SQLite file (default true). */
  persist?: boolean;
  binary?: string;
  startTimeoutMs?: number;
}

/** What a running dev server looks like to the rest of the stack (also its on-disk state file). */
export interface TemporalDevServer {
  address: string;
  namespace: string;
  pid: number;
  port: number;
  uiUrl: string | null;
  dbFile: string | null;
  logFile: string;
  /** False when an already-running server was found and reused. */
  startedHere: boolean;
}

export class TemporalStartError extends Error {
  override readonly name = 'TemporalStartError';
  constructor(
    message: string,
    readonly logTail: string,
  ) {
    super(logTail.length > 0 ? `${message}\n--- temporal server log (tail) ---\n${logTail}` : message);
  }
}

const HOST = '127.0.0.1';

function serverDir(dataDir: string): string {
  return path.join(dataDir, 'temporal');
}
function stateFile(dataDir: string): string {
  return path.join(serverDir(dataDir), 'server.json');
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A recycled pid must not be mistaken for our server.
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes('temporal');
  } catch {
    return true; // no /proc: trust kill(0)
  }
}

function logTail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** The state of the server recorded under `dataDir`, if its process is still alive. */
export function readTemporalState(dataDir: string): TemporalDevServer | null {
  const file = stateFile(dataDir);
  if (!existsSync(file)) return null;
  try {
    const state = JSON.parse(readFileSync(file, 'utf8')) as TemporalDevServer;
    if (typeof state.pid === 'number' && pidAlive(state.pid)) return state;
  } catch {
    // unreadable state file: treat as absent
  }
  return null;
}

/**
 * Resolves once the front end answers and the namespace exists; throws after `timeoutMs`.
 * `isDead` lets the caller abort early when the server process has exited; `connection` carries
 * TLS / API key for a secured cluster (`temporalConnectionFromEnv`), default plaintext.
 */
export async function waitForTemporal(
  address: string,
  namespace: string,
  timeoutMs: number,
  isDead: () => boolean = () => false,
  connectionOptions: TemporalConnectionOptions = plainTemporalConnection(address),
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  while (Date.now() < deadline) {
    if (isDead()) throw new Error('temporal server process exited during start-up');
    let connection: Connection | null = null;
    try {
      connection = await Connection.connect({ ...connectionOptions, address, connectTimeout: '2s' });
      await connection.workflowService.getSystemInfo({});
      await connection.workflowService.describeNamespace({ namespace });
      return;
    } catch (error) {
      lastError = error;
    } finally {
      await connection?.close().catch(() => undefined);
    }
    await sleep(250);
  }
  throw new Error(`temporal at ${address} not healthy after ${timeoutMs} ms: ${String(lastError)}`);
}

const INDEXED_TYPES = proto.temporal.api.enums.v1.IndexedValueType;
const TYPE_BY_NAME = {
  Keyword: INDEXED_TYPES.INDEXED_VALUE_TYPE_KEYWORD,
  Text: INDEXED_TYPES.INDEXED_VALUE_TYPE_TEXT,
  Int: INDEXED_TYPES.INDEXED_VALUE_TYPE_INT,
  Double: INDEXED_TYPES.INDEXED_VALUE_TYPE_DOUBLE,
  Bool: INDEXED_TYPES.INDEXED_VALUE_TYPE_BOOL,
  Datetime: INDEXED_TYPES.INDEXED_VALUE_TYPE_DATETIME,
} as const;

/**
 * Registers the project's custom search attributes that the namespace lacks (idempotent).
 * Returns the names it added. `connection`: TLS / API key for a secured self-hosted cluster
 * (`infra/dev/temporal search-attributes` passes the `TEMPORAL_*` environment); default plaintext.
 */
export async function ensureSearchAttributes(
  address: string,
  namespace: string,
  connectionOptions: TemporalConnectionOptions = plainTemporalConnection(address),
): Promise<string[]> {
  const connection = await Connection.connect({ ...connectionOptions, address });
  try {
    const existing = await connection.operatorService.listSearchAttributes({ namespace });
    const have = new Set(Object.keys(existing.customAttributes ?? {}));
    const missing = Object.entries(SEARCH_ATTRIBUTES).filter(([name]) => !have.has(name));
    if (missing.length === 0) return [];
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map(([name, type]) => [name, TYPE_BY_NAME[type]])),
    });
    return missing.map(([name]) => name);
  } finally {
    await connection.close();
  }
}

/**
 * Starts `temporal server start-dev` in the background (its own process group, so it outlives a
 * crashed parent and is stopped by {@link stopTemporalDev}), waits until it is healthy and
 * registers the project's search attributes. Idempotent: a server already recorded under
 * `dataDir` and still healthy is reused.
 */
export async function startTemporalDev(options: TemporalDevOptions): Promise<TemporalDevServer> {
  const namespace = options.namespace ?? DEFAULT_NAMESPACE;
  const timeoutMs = options.startTimeoutMs ?? 60_000;
  const running = readTemporalState(options.dataDir);
  if (running) {
    await waitForTemporal(running.address, running.namespace, timeoutMs);
    await ensureSearchAttributes(running.address, running.namespace);
    return { ...running, startedHere: false };
  }

  const port = options.port ?? 7233;
  if (await isListening(port)) {
    throw new TemporalStartError(
      `port ${port} on ${HOST} is already in use by a process this data dir (${options.dataDir}) ` +
        `did not start; stop it or choose another port (ONEFLOW_TEMPORAL_PORT)`,
      '',
    );
  }
  const uiPort = options.uiPort === undefined ? port + 1000 : options.uiPort;
  const persist = options.persist ?? true;
  const dir = serverDir(options.dataDir);
  mkdirSync(dir, { recursive: true });
  const dbFile = persist ? path.join(dir, 'temporal.sqlite') : null;
  const logFile = path.join(dir, 'server.log');
  const binary = options.binary ?? temporalBinary();

  const args = ['server', 'start-dev', '--ip', HOST, '--port', String(port), '--log-level', 'warn'];
  const namespaces = [namespace, ...(options.extraNamespaces ?? [])];
  for (const ns of namespaces) args.push('--namespace', ns);
  if (dbFile) args.push('--db-filename', dbFile);
  for (const [key, value] of Object.entries(options.dynamicConfig ?? {}))
    args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);
  if (uiPort === null) args.push('--headless');
  else args.push('--ui-port', String(uiPort));

  const logFd = openSync(logFile, 'a');
  const child = spawn(binary, args, { detached: true, stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new TemporalStartError(`could not spawn ${binary}`, logTail(logFile));

  const server: TemporalDevServer = {
    address: `${HOST}:${port}`,
    namespace,
    pid,
    port,
    uiUrl: uiPort === null ? null : `http://${HOST}:${uiPort}`,
    dbFile,
    logFile,
    startedHere: true,
  };
  writeFileSync(stateFile(options.dataDir), JSON.stringify(server, null, 2));
  try {
    await waitForTemporal(server.address, namespace, timeoutMs, () => exited);
    for (const ns of namespaces) await ensureSearchAttributes(server.address, ns);
  } catch (error) {
    await stopTemporalDev(options.dataDir);
    throw new TemporalStartError(error instanceof Error ? error.message : String(error), logTail(logFile));
  }
  return server;
}

/**
 * Stops the server recorded under `dataDir` (SIGTERM, then SIGKILL after `graceMs`) and removes
 * its state file; the SQLite store stays. Returns false when nothing was running.
 */
export async function stopTemporalDev(dataDir: string, graceMs = 15_000): Promise<boolean> {
  const file = stateFile(dataDir);
  const state = readTemporalState(dataDir);
  if (!state) {
    rmSync(file, { force: true });
    return false;
  }
  const signalGroup = (signal: NodeJS.Signals): void => {
    try {
      process.kill(-state.pid, signal);
    } catch {
      try {
        process.kill(state.pid, signal);
      } catch {
        // already gone
      }
    }
  };
  signalGroup('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (pidAlive(state.pid) && Date.now() < deadline) await sleep(100);
  if (pidAlive(state.pid)) {
    signalGroup('SIGKILL');
    while (pidAlive(state.pid)) await sleep(50);
  }
  rmSync(file, { force: true });
  return true;
}

/**
 * Server options for `@temporalio/testing`'s `TestWorkflowEnvironment.createLocal`: always the
 * registry-installed binary (`existing-path`), never the SDK's download.
 */
export function localTestServerConfig(extraArgs: string[] = []): {
  executable: { type: 'existing-path'; path: string };
  ip: string;
  extraArgs: string[];
} {
  return {
    executable: { type: 'existing-path', path: temporalBinary() },
    ip: HOST,
    extraArgs: ['--log-level', 'warn', ...extraArgs],
  };
}
