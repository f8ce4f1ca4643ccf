/**
 * How every process of the project connects to Temporal: the worker (`NativeConnection`), the API
 * and the dev-stack helpers (`Connection`) all read the same `TEMPORAL_*` variables through
 * {@link temporalConnectionFromEnv}, so a secured cluster or Temporal Cloud is configured once.
 *
 * A separate entry point (`@oneflow/contracts/temporal-connection`), not part of the package's
 * index: it reads files (node:fs), and workflow code imports the index inside Temporal's sandbox.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { DEFAULT_NAMESPACE } from './names.js';

// An empty variable counts as unset: k8s renders an absent optional Secret key or `FOO=` that way,
// and the dev stack blanks these to keep a shell's cluster settings away from the local server.
const blankIsUnset = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === '' ? undefined : v), schema);
const optionalText = blankIsUnset(z.string().min(1).optional());
const flag = blankIsUnset(
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'], { message: 'expected true or false' })
    .transform((v) => ['true', '1', 'yes', 'on'].includes(v))
    .optional(),
);

/**
 * The variables, as a zod shape the apps spread into their own env schemas (so an unknown or
 * malformed value fails the same boot-time validation as the rest of their settings).
 */
export const temporalConnectionEnvShape = {
  /** host:port of the frontend (Temporal Cloud: `<namespace>.<account>.tmprl.cloud:7233`, or the regional API-key endpoint). */
  TEMPORAL_ADDRESS: blankIsUnset(z.string().min(1).default('127.0.0.1:7233')),
  TEMPORAL_NAMESPACE: blankIsUnset(z.string().min(1).default(DEFAULT_NAMESPACE)),
  /** Temporal Cloud API key (sent as `authorization: Bearer …`); turns TLS on unless TEMPORAL_TLS=false. */
  TEMPORAL_API_KEY: optionalText,
  /** Force TLS on (server TLS with the system's CAs, no client certificate) or off. Default: on when any TLS or API-key setting is given. */
  TEMPORAL_TLS: flag,
  /** mTLS client certificate and key, PEM, inline or as a file path (one of each pair). */
  TEMPORAL_TLS_CERT: optionalText,
  TEMPORAL_TLS_CERT_PATH: optionalText,
  TEMPORAL_TLS_KEY: optionalText,
  TEMPORAL_TLS_KEY_PATH: optionalText,
  /** CA that signed the server's certificate, PEM (default, or empty: the system's trust store). */
  TEMPORAL_TLS_CA: optionalText,
  TEMPORAL_TLS_CA_PATH: optionalText,
  /** Name to verify the server's certificate against (and SNI), when it differs from the address's host. */
  TEMPORAL_TLS_SERVER_NAME: optionalText,
  /** Extra gRPC headers on every call: `name=value[,name=value…]` (e.g. for an authenticating proxy). */
  TEMPORAL_GRPC_METADATA: optionalText,
};
export const temporalConnectionEnvSchema = z.object(temporalConnectionEnvShape);
export type TemporalConnectionEnv = z.infer<typeof temporalConnectionEnvSchema>;

/** What went wrong, per variable; `code` is stable for tests and tooling. */
export type TemporalConfigIssueCode =
  'invalid' | 'cert-without-key' | 'key-without-cert' | 'inline-and-path' | 'unreadable-file' | 'not-pem' | 'tls-disabled' | 'bad-metadata';
export interface TemporalConfigIssue {
  variable: string;
  code: TemporalConfigIssueCode;
  message: string;
}

/** Thrown for a missing, half-configured or unreadable Temporal connection setting. */
export class TemporalConfigError extends Error {
  override readonly name = 'TemporalConfigError';
  constructor(readonly issues: readonly TemporalConfigIssue[]) {
    super(`invalid Temporal connection settings:\n${issues.map((i) => `  ${i.variable}: ${i.message}`).join('\n')}`);
  }
}

/**
 * TLS as both SDK connections take it (`TLSConfig` of `@temporalio/common`, structurally): the
 * worker's `NativeConnection` and the client's `Connection` accept the same object.
 */
export interface TemporalTlsOptions {
  serverNameOverride?: string;
  serverRootCACertificate?: Buffer;
  clientCertPair?: { crt: Buffer; key: Buffer };
}

/** Options for `Connection.connect` / `NativeConnection.connect`. */
export interface TemporalConnectionOptions {
  address: string;
  /** `false`: plaintext; an object: TLS (`{}` = server TLS verified with the system's CAs). */
  tls: TemporalTlsOptions | false;
  apiKey?: string;
  metadata?: Record<string, string>;
}

export interface TemporalConnectionSettings {
  address: string;
  namespace: string;
  connection: TemporalConnectionOptions;
  /** For logs: what is configured, never a secret. */
  summary: {
    address: string;
    namespace: string;
    tls: boolean;
    mtls: boolean;
    apiKey: boolean;
    serverName: string | null;
    metadata: string[];
  };
}

const CERT_PEM = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;
const KEY_PEM = /-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----/;

type Pem = 'CERT' | 'KEY' | 'CA';
const PEM_KIND: Record<Pem, { pattern: RegExp; what: string }> = {
  CERT: { pattern: CERT_PEM, what: 'a PEM certificate (-----BEGIN CERTIFICATE-----)' },
  KEY: { pattern: KEY_PEM, what: 'a PEM private key (-----BEGIN … PRIVATE KEY-----)' },
  CA: { pattern: CERT_PEM, what: 'a PEM certificate (-----BEGIN CERTIFICATE-----)' },
};

export interface TemporalConnectionIo {
  /** Reads a PEM file (default: `fs.readFileSync`); injectable for tests. */
  readFile?: (path: string) => Buffer;
}

/**
 * Parses and checks the `TEMPORAL_*` variables (all of them, reporting every problem at once) and
 * reads the PEM files they name. Throws {@link TemporalConfigError}; never returns a half-configured
 * connection (a certificate without its key, a file that cannot be read, TLS material with TLS off).
 */
export function temporalConnectionFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  io: TemporalConnectionIo = {},
): TemporalConnectionSettings {
  const parsed = temporalConnectionEnvSchema.safeParse(env);
  if (!parsed.success) {
    throw new TemporalConfigError(
      parsed.error.issues.map((i) => ({ variable: String(i.path[0] ?? 'TEMPORAL'), code: 'invalid' as const, message: i.message })),
    );
  }
  const e = parsed.data;
  const issues: TemporalConfigIssue[] = [];
  const readFile = io.readFile ?? ((p: string) => readFileSync(p));

  /** One PEM from `TEMPORAL_TLS_<kind>` or `TEMPORAL_TLS_<kind>_PATH`; undefined when neither is set or it is unusable. */
  const pem = (kind: Pem): Buffer | undefined => {
    const inlineVar = `TEMPORAL_TLS_${kind}` as const;
    const pathVar = `TEMPORAL_TLS_${kind}_PATH` as const;
    const inline = e[inlineVar];
    const file = e[pathVar];
    if (inline !== undefined && file !== undefined) {
      issues.push({ variable: inlineVar, code: 'inline-and-path', message: `set ${inlineVar} or ${pathVar}, not both` });
      return undefined;
    }
    let text: string;
    let variable: string;
    if (inline !== undefined) {
      // Some secret stores flatten newlines to a literal "\n"; PEM needs real ones.
      text = inline.includes('\n') ? inline : inline.replaceAll('\\n', '\n');
      variable = inlineVar;
    } else if (file !== undefined) {
      variable = pathVar;
      try {
        text = readFile(file).toString('utf8');
      } catch (error) {
        const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
        issues.push({ variable: pathVar, code: 'unreadable-file', message: `cannot read ${file} (${reason})` });
        return undefined;
      }
    } else {
      return undefined;
    }
    // An empty CA (cert-manager's ca.crt for a publicly trusted server) means the system's CAs.
    if (kind === 'CA' && text.trim() === '') return undefined;
    const { pattern, what } = PEM_KIND[kind];
    if (!pattern.test(text)) {
      issues.push({
        variable,
        code: 'not-pem',
        message: `expected ${what}${file !== undefined && inline === undefined ? ` in ${file}` : ''}`,
      });
      return undefined;
    }
    return Buffer.from(text, 'utf8');
  };

  const hasCert = e.TEMPORAL_TLS_CERT !== undefined || e.TEMPORAL_TLS_CERT_PATH !== undefined;
  const hasKey = e.TEMPORAL_TLS_KEY !== undefined || e.TEMPORAL_TLS_KEY_PATH !== undefined;
  if (hasCert && !hasKey) {
    issues.push({
      variable: 'TEMPORAL_TLS_KEY',
      code: 'cert-without-key',
      message: 'a client certificate is set (TEMPORAL_TLS_CERT[_PATH]) but not its key: set TEMPORAL_TLS_KEY or TEMPORAL_TLS_KEY_PATH',
    });
  }
  if (hasKey && !hasCert) {
    issues.push({
      variable: 'TEMPORAL_TLS_CERT',
      code: 'key-without-cert',
      message: 'a client key is set (TEMPORAL_TLS_KEY[_PATH]) but not its certificate: set TEMPORAL_TLS_CERT or TEMPORAL_TLS_CERT_PATH',
    });
  }
  const crt = pem('CERT');
  const key = pem('KEY');
  const ca = pem('CA');

  const tlsMaterial =
    hasCert ||
    hasKey ||
    e.TEMPORAL_TLS_CA !== undefined ||
    e.TEMPORAL_TLS_CA_PATH !== undefined ||
    e.TEMPORAL_TLS_SERVER_NAME !== undefined;
  if (e.TEMPORAL_TLS === false && tlsMaterial) {
    issues.push({
      variable: 'TEMPORAL_TLS',
      code: 'tls-disabled',
      message: 'TEMPORAL_TLS=false, but TLS settings (TEMPORAL_TLS_CERT/KEY/CA/SERVER_NAME) are given: remove them or enable TLS',
    });
  }

  let metadata: Record<string, string> | undefined;
  if (e.TEMPORAL_GRPC_METADATA !== undefined) {
    metadata = {};
    for (const pair of e.TEMPORAL_GRPC_METADATA.split(',')
      .map((p) => p.trim())
      .filter(Boolean)) {
      const eq = pair.indexOf('=');
      const name = eq > 0 ? pair.slice(0, eq).trim().toLowerCase() : '';
      // gRPC header names: lowercase token characters; `authorization` belongs to TEMPORAL_API_KEY.
      if (!/^[0-9a-z_.-]+$/.test(name) || name.startsWith('grpc-')) {
        issues.push({
          variable: 'TEMPORAL_GRPC_METADATA',
          code: 'bad-metadata',
          message: `expected name=value pairs separated by commas, got "${pair.split('=')[0] ?? ''}=…"`,
        });
        continue;
      }
      if (name === 'authorization' && e.TEMPORAL_API_KEY !== undefined) {
        issues.push({
          variable: 'TEMPORAL_GRPC_METADATA',
          code: 'bad-metadata',
          message: 'an authorization header and TEMPORAL_API_KEY are both set: use one',
        });
        continue;
      }
      metadata[name] = pair.slice(eq + 1).trim();
    }
  }

  if (issues.length > 0) throw new TemporalConfigError(issues);

  const useTls = e.TEMPORAL_TLS ?? (tlsMaterial || e.TEMPORAL_API_KEY !== undefined);
  const tls: TemporalTlsOptions | false = useTls
    ? {
        ...(e.TEMPORAL_TLS_SERVER_NAME !== undefined ? { serverNameOverride: e.TEMPORAL_TLS_SERVER_NAME } : {}),
        ...(ca ? { serverRootCACertificate: ca } : {}),
        ...(crt && key ? { clientCertPair: { crt, key } } : {}),
      }
    : false;
  return {
    address: e.TEMPORAL_ADDRESS,
    namespace: e.TEMPORAL_NAMESPACE,
    connection: {
      address: e.TEMPORAL_ADDRESS,
      tls,
      ...(e.TEMPORAL_API_KEY !== undefined ? { apiKey: e.TEMPORAL_API_KEY } : {}),
      ...(metadata && Object.keys(metadata).length > 0 ? { metadata } : {}),
    },
    summary: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      tls: tls !== false,
      mtls: tls !== false && tls.clientCertPair !== undefined,
      apiKey: e.TEMPORAL_API_KEY !== undefined,
      serverName: e.TEMPORAL_TLS_SERVER_NAME ?? null,
      metadata: Object.keys(metadata ?? {}),
    },
  };
}

/** The connection for a plain local address (tests, the embedded dev server): no TLS, no key. */
export function plainTemporalConnection(address: string): TemporalConnectionOptions {
  return { address, tls: false };
}

/**
 * A service's start-up configuration: its own variables (`schema`) and its Temporal connection,
 * or every problem on stderr and exit code 2 — the same behaviour for the API and the worker.
 */
export function serviceConfigOrExit<S extends z.ZodType>(
  program: string,
  schema: S,
  env: NodeJS.ProcessEnv = process.env,
): { env: z.infer<S>; temporal: TemporalConnectionSettings } {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    console.error(
      `${program}: invalid configuration:\n${parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n')}`,
    );
    process.exit(2);
  }
  try {
    return { env: parsed.data, temporal: temporalConnectionFromEnv(env) };
  } catch (error) {
    if (!(error instanceof TemporalConfigError)) throw error;
    console.error(`${program}: ${error.message}`);
    process.exit(2);
  }
}
