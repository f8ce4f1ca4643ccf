import type { Batch, BatchPage, GenerationPage, GenerationState } from '@oneflow/sdk/browser';
import { useCallback, useEffect, useState } from 'react';
import { useApi } from '../api.js';
import { navigate } from '../router.js';
import { CopyCode, ErrorNote, StateBadge } from './common.js';

const GEN_STATES: GenerationState[] = ['queued', 'running', 'succeeded', 'failed', 'canceled', 'expired'];
const BATCH_STATES = ['running', 'succeeded', 'partial', 'failed', 'canceled'] as const;
const PAGE = 10;

/** The tenant's generations and batches: state filters, paging, cancel and resume. */
export function JobsView() {
  return (
    <section className="jobs" aria-labelledby="jobs-title">
      <h2 tabIndex={-1} id="jobs-title">
        Jobs
      </h2>
      <GenerationsTable />
      <BatchesTable />
    </section>
  );
}

function usePaged<T>(load: (cursor: string | undefined) => Promise<{ items: T[]; nextCursor: string | null }>, deps: unknown[]) {
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const [page, setPage] = useState<{ items: T[]; nextCursor: string | null } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  const cursor = cursors.at(-1);
  useEffect(() => setCursors([undefined]), deps);
  useEffect(() => {
    let alive = true;
    load(cursor).then(
      (p) => {
        if (!alive) return;
        setPage(p);
        setError(null);
      },
      (e: unknown) => alive && setError(e instanceof Error ? e.message : String(e)),
    );
    return () => {
      alive = false;
    };
  }, [cursor, tick, ...deps]);
  return {
    page,
    error,
    pageNumber: cursors.length,
    next: () => page?.nextCursor && setCursors([...cursors, page.nextCursor]),
    prev: () => cursors.length > 1 && setCursors(cursors.slice(0, -1)),
    reload: () => setTick((t) => t + 1),
  };
}

function GenerationsTable() {
  const { client } = useApi();
  const [state, setState] = useState<GenerationState | ''>('');
  const [actionError, setActionError] = useState<string | null>(null);
  const load = useCallback(
    (cursor: string | undefined) => client.generations.list({ limit: PAGE, ...(state ? { state } : {}), ...(cursor ? { cursor } : {}) }),
    [client, state],
  );
  const { page, error, pageNumber, next, prev, reload } = usePaged<GenerationPage['items'][number]>(load, [load]);
  const act = async (what: 'cancel' | 'resume', id: string) => {
    setActionError(null);
    try {
      await (what === 'cancel' ? client.generations.cancel(id) : client.generations.resume(id));
      setTimeout(reload, 500);
    } catch (e) {
      setActionError(e instanceof Error ? e.message : String(e));
    }
  };
  return (
    <div className="panel" role="region" aria-labelledby="gens-title">
      <div className="row wrap">
        <h3 id="gens-title">Generations</h3>
        <label>
          State{' '}
          <select value={state} onChange={(e) => setState(e.target.value as GenerationState | '')} aria-label="Filter generations by state">
            <option value="">any</option>
            {GEN_STATES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <button type="button" onClick={reload}>
          Refresh
        </button>
      </div>
      <ErrorNote error={error ?? actionError} />
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Generation</th>
              <th scope="col">State</th>
              <th scope="col">Step</th>
              <th scope="col">Model</th>
              <th scope="col">Created</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {(page?.items ?? []).map((g) => (
              <tr key={g.id} data-id={g.id}>
                <td>
                  <a href={`/g/${g.id}`} onClick={(e) => navigate(e, `/g/${g.id}`)}>
                    {g.id}
                  </a>
                  {g.parentId && <span className="muted"> ← {g.parentId.slice(0, 12)}</span>}
                </td>
                <td>
                  <StateBadge state={g.state} />
                </td>
                <td>{g.step}</td>
                <td>{g.model}</td>
                <td>
                  <time dateTime={g.createdAt}>{new Date(g.createdAt).toLocaleString()}</time>
                </td>
                <td>
                  {(g.state === 'running' || g.state === 'queued') && (
                    <button type="button" onClick={() => void act('cancel', g.id)} aria-label={`cancel ${g.id}`}>
                      Cancel
                    </button>
                  )}
                  {(g.state === 'canceled' || g.state === 'failed' || g.state === 'expired') && (
                    <button type="button" onClick={() => void act('resume', g.id)} aria-label={`resume ${g.id}`}>
                      Resume
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {page && page.items.length === 0 && <p className="muted">No generations{state ? ` in state ${state}` : ''}.</p>}
      <div className="row">
        <button type="button" onClick={prev} disabled={pageNumber === 1}>
          Previous page
        </button>
        <span>page {pageNumber}</span>
        <button type="button" onClick={next} disabled={!page?.nextCursor}>
          Next page
        </button>
      </div>
      <CopyCode call={{ procedure: 'generations.list', input: { limit: PAGE, ...(state ? { state } : {}) } }} />
    </div>
  );
}

function BatchesTable() {
  const { client } = useApi();
  const [state, setState] = useState<(typeof BATCH_STATES)[number] | ''>('');
  const load = useCallback(
    (cursor: string | undefined) => client.batches.list({ limit: PAGE, ...(state ? { state } : {}), ...(cursor ? { cursor } : {}) }),
    [client, state],
  );
  const { page, error, pageNumber, next, prev, reload } = usePaged<BatchPage['items'][number]>(load, [load]);
  return (
    <div className="panel" role="region" aria-labelledby="batches-title">
      <div className="row wrap">
        <h3 id="batches-title">Batches</h3>
        <label>
          State{' '}
          <select value={state} onChange={(e) => setState(e.target.value as typeof state)} aria-label="Filter batches by state">
            <option value="">any</option>
            {BATCH_STATES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <button type="button" onClick={reload}>
          Refresh
        </button>
      </div>
      <ErrorNote error={error} />
      <ul className="list">
        {(page?.items ?? []).map((b) => (
          <li key={b.id} className="row">
            <a href={`/b/${b.id}`} onClick={(e) => navigate(e, `/b/${b.id}`)}>
              {b.id}
            </a>
            <StateBadge state={b.state} />
            <time className="muted" dateTime={b.createdAt}>
              {new Date(b.createdAt).toLocaleString()}
            </time>
          </li>
        ))}
      </ul>
      {page && page.items.length === 0 && <p className="muted">No batches{state ? ` in state ${state}` : ''}.</p>}
      <div className="row">
        <button type="button" onClick={prev} disabled={pageNumber === 1}>
          Previous page
        </button>
        <span>page {pageNumber}</span>
        <button type="button" onClick={next} disabled={!page?.nextCursor}>
          Next page
        </button>
      </div>
    </div>
  );
}

/** A batch, live: counts and each item's state, linked to its generation. */
export function BatchView({ id }: { id: string }) {
  const { client } = useApi();
  const [batch, setBatch] = useState<Batch | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const ac = new AbortController();
    client.batches.get(id).then(setBatch, (e: unknown) => setError(e instanceof Error ? e.message : String(e)));
    void (async () => {
      try {
        for await (const b of client.batches.watch(id, { signal: ac.signal })) setBatch(b);
        // The stream ends with the batch; its items' texts come from listings that can lag, so read it once more.
        if (!ac.signal.aborted) setBatch(await client.batches.get(id));
      } catch (e) {
        if (!ac.signal.aborted) setError(e instanceof Error ? e.message : String(e));
      }
    })();
    return () => ac.abort();
  }, [client, id]);
  const cancel = async () => {
    try {
      await client.batches.cancel(id);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  return (
    <section className="panel" aria-labelledby="batch-title">
      <h2 tabIndex={-1} id="batch-title">
        Batch <code>{id}</code> {batch && <StateBadge state={batch.state} />}
      </h2>
      <ErrorNote error={error} />
      {batch && (
        <>
          <p role="status">
            {Object.entries(batch.counts)
              .filter(([, n]) => n > 0)
              .map(([s, n]) => `${n} ${s}`)
              .join(' · ')}
          </p>
          {batch.state === 'running' && (
            <button type="button" onClick={() => void cancel()}>
              Cancel batch
            </button>
          )}
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Item</th>
                  <th scope="col">State</th>
                  <th scope="col">Step</th>
                  <th scope="col">Text</th>
                </tr>
              </thead>
              <tbody>
                {batch.items.map((it) => (
                  <tr key={it.id} data-id={it.id}>
                    <td>
                      <a href={`/g/${it.id}`} onClick={(e) => navigate(e, `/g/${it.id}`)}>
                        {it.id.split('-').at(-1)}
                      </a>
                    </td>
                    <td>
                      <StateBadge state={it.state} />
                    </td>
                    <td>{it.step ?? ''}</td>
                    <td>{it.error ?? it.text ?? ''}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
      <CopyCode call={{ procedure: 'batches.get', input: { id } }} />
    </section>
  );
}
