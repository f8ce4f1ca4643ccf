import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';

/**
 * A TLS front for the plaintext dev server, as a secured Temporal cluster looks to a client: it
 * terminates TLS (optionally requiring a client certificate from `ca`), records each gRPC call's
 * method, headers and client certificate, and forwards the HTTP/2 streams (headers, messages,
 * trailers) to the dev server unchanged. For tests of the connection settings only.
 */
export interface GrpcCall {
  path: string;
  authorization: string | undefined;
  headers: Record<string, string>;
  /** Common name of the client certificate the TLS session presented, if any. */
  clientCn: string | null;
}

export interface GrpcTlsProxy {
  address: string;
  calls: GrpcCall[];
  close(): Promise<void>;
}

export async function startGrpcTlsProxy(options: {
  upstream: string;
  cert: Buffer;
  key: Buffer;
  /** Require a client certificate signed by this CA (mTLS); omit for server-only TLS. */
  clientCa?: Buffer;
}): Promise<GrpcTlsProxy> {
  const calls: GrpcCall[] = [];
  const upstreams = new Set<http2.ClientHttp2Session>();
  const sessions = new Set<http2.ServerHttp2Session>();
  const server = http2.createSecureServer({
    cert: options.cert,
    key: options.key,
    ...(options.clientCa ? { ca: options.clientCa, requestCert: true, rejectUnauthorized: true } : {}),
  });
  server.on('session', (session) => {
    sessions.add(session);
    // One upstream HTTP/2 connection per client connection, as a real L7 proxy would keep.
    const upstream = http2.connect(`http://${options.upstream}`);
    upstreams.add(upstream);
    upstream.on('error', () => session.destroy());
    session.on('close', () => {
      sessions.delete(session);
      upstreams.delete(upstream);
      upstream.close();
    });
    session.on('stream', (stream, headers) => {
      const socket = session.socket as TLSSocket;
      const peer = socket.getPeerCertificate();
      const flat: Record<string, string> = {};
      for (const [k, v] of Object.entries(headers))
        if (!k.startsWith(':') && v !== undefined) flat[k] = Array.isArray(v) ? v.join(',') : String(v);
      calls.push({
        path: String(headers[':path']),
        authorization: flat['authorization'],
        headers: flat,
        clientCn: peer && typeof peer.subject === 'object' ? ([peer.subject.CN].flat()[0] ?? null) : null,
      });
      const forward: http2.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(headers)) if (k !== ':scheme' && k !== ':authority' && v !== undefined) forward[k] = v;
      const req = upstream.request(forward);
      let trailers: http2.IncomingHttpHeaders | null = null;
      req.on('response', (res) => {
        const { ':status': status, ...rest } = res;
        if (stream.destroyed) return;
        if ('grpc-status' in rest) {
          // A trailers-only response (an error before any message): headers end the stream.
          stream.respond({ ':status': status, ...rest }, { endStream: true });
          return;
        }
        stream.respond({ ':status': status, ...rest }, { waitForTrailers: true });
        req.pipe(stream);
      });
      req.on('trailers', (t: http2.IncomingHttpHeaders) => {
        trailers = t;
      });
      stream.on('wantTrailers', () => {
        const t: http2.OutgoingHttpHeaders = {};
        for (const [k, v] of Object.entries(trailers ?? {})) if (!k.startsWith(':') && v !== undefined) t[k] = v;
        if (Object.keys(t).length > 0) stream.sendTrailers(t);
        else stream.close();
      });
      stream.pipe(req);
      req.on('error', () => {
        if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      });
      stream.on('error', () => req.close(http2.constants.NGHTTP2_CANCEL));
      stream.on('close', () => {
        if (!req.closed) req.close(http2.constants.NGHTTP2_CANCEL);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    calls,
    async close() {
      for (const s of sessions) s.destroy();
      for (const u of upstreams) u.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface TestPki {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A client pair from a CA the server does not trust. */
  rogueCert: string;
  rogueKey: string;
  read(file: string): Buffer;
}

/**
 * A throwaway PKI made with the openssl CLI: a CA, a server certificate for `serverName` (and
 * 127.0.0.1), a client certificate (CN `clientCn`) from the same CA, and one from a rogue CA.
 */
export function makeTestPki(dir: string, serverName: string, clientCn: string): TestPki {
  mkdirSync(dir, { recursive: true });
  const f = (name: string) => path.join(dir, name);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const ca = (name: string) => {
    ssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      f(`${name}.key`),
      '-out',
      f(`${name}.pem`),
    );
  };
  const leaf = (name: string, cn: string, issuer: string, ext: string) => {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`));
    writeFileSync(f(`${name}.ext`), ext);
    ssl(
      'x509',
      '-req',
      '-in',
      f(`${name}.csr`),
      '-CA',
      f(`${issuer}.pem`),
      '-CAkey',
      f(`${issuer}.key`),
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      f(`${name}.ext`),
      '-out',
      f(`${name}.pem`),
    );
  };
  ca('test-ca');
  ca('rogue-ca');
  leaf('server', serverName, 'test-ca', `subjectAltName=DNS:${serverName},IP:127.0.0.1\nextendedKeyUsage=serverAuth\n`);
  leaf('client', clientCn, 'test-ca', 'extendedKeyUsage=clientAuth\n');
  leaf('rogue', clientCn, 'rogue-ca', 'extendedKeyUsage=clientAuth\n');
  return {
    dir,
    ca: f('test-ca.pem'),
    serverCert: f('server.pem'),
    serverKey: f('server.key'),
    clientCert: f('client.pem'),
    clientKey: f('client.key'),
    rogueCert: f('rogue.pem'),
    rogueKey: f('rogue.key'),
    read: (file) => readFileSync(file),
  };
}
