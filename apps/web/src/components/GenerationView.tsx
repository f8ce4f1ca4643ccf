import type { Lineage } from '@oneflow/sdk/browser';
import { useEffect, useMemo, useRef, useState, type FormEvent } from 'react';
import { useApi } from '../api.js';
import { useGeneration, type Frame } from '../generation.js';
import type { ApiCall } from '../lib/codegen.js';
import { codeOf, fieldErrors, type FieldError } from '../lib/errors.js';
import { FINAL } from '../lib/events.js';
import { navigate } from '../router.js';
import { CopyCode, ErrorNote, Field, StateBadge } from './common.js';
import { TextView } from './TextView.js';

/** A generation: live view, timeline over every recorded step, branch / refine from the step on screen, lineage. */
export function GenerationView({ id }: { id: string }) {
  const { client } = useApi();
  const [nonce, setNonce] = useState(0);
  const live = useGeneration(id, nonce);
  const [pinned, setPinned] = useState<number | null>(null);
  const [playing, setPlaying] = useState(false);
  const [span, setSpan] = useState<[number, number] | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const frames = live.frames;
  const latest = frames.at(-1) ?? null;
  const index =
    pinned === null
      ? frames.length - 1
      : Math.max(
          0,
          frames.findIndex((f) => f.step === pinned),
        );
  const frame = frames[index] ?? null;
  const previous = index > 0 ? (frames[index - 1] ?? null) : null;
  const last = live.last;
  const state = live.info && last && FINAL.includes(live.info.state) ? live.info.state : (last?.state ?? live.info?.state ?? 'queued');

  // Play back the recorded steps from the one on screen.
  useEffect(() => {
    if (!playing) return;
    const t = setInterval(() => {
      setPinned((p) => {
        const i = p === null ? frames.length - 1 : frames.findIndex((f) => f.step === p);
        const next = frames[i + 1];
        if (!next) {
          setPlaying(false);
          return p;
        }
        return next.step;
      });
    }, 250);
    return () => clearInterval(t);
  }, [playing, frames]);

  const act = async (what: 'cancel' | 'resume') => {
    setActionError(null);
    try {
      await (what === 'cancel' ? client.generations.cancel(id) : client.generations.resume(id));
      if (what === 'resume') {
        setPinned(null);
        setNonce((n) => n + 1);
      }
    } catch (error) {
      setActionError(error instanceof Error ? error.message : String(error));
    }
  };

  const canCancel = state === 'queued' || state === 'running';
  const canResume = state === 'canceled' || state === 'failed' || state === 'expired';
  const expected = last?.steps ?? latest?.steps ?? live.info?.steps ?? null;

  return (
    <section className="generation" aria-labelledby="gen-title">
      <header className="gen-header">
        <h2 tabIndex={-1} id="gen-title">
          Generation <code>{id}</code>
        </h2>
        <div className="row wrap" role="status" aria-live="polite" aria-label="progress">
          <StateBadge state={state} />
          <span data-testid="progress">
            step {latest?.step ?? 0}
            {expected !== null ? ` / ${expected}` : ''}
          </span>
          {live.info?.queuePosition !== null && live.info?.queuePosition !== undefined && state === 'queued' && (
            <span>queue position {live.info.queuePosition}</span>
          )}
          <span className={`stream stream-${live.status}`}>stream: {live.status}</span>
          {live.info?.model && <span className="muted">{live.info.model}</span>}
          {live.info?.parentId && (
            <a href={`/g/${live.info.parentId}`} onClick={(e) => navigate(e, `/g/${live.info!.parentId!}`)}>
              parent
            </a>
          )}
        </div>
        <div className="row">
          {canCancel && (
            <button type="button" onClick={() => void act('cancel')}>
              Cancel
            </button>
          )}
          {canResume && (
            <button type="button" onClick={() => void act('resume')}>
              Resume
            </button>
          )}
        </div>
        <ErrorNote error={actionError ?? last?.error ?? (live.status === 'error' ? live.detail : null)} />
      </header>

      <div className="gen-body">
        <div className="canvas">
          {frame ? (
            <TextView id={id} frame={frame} previous={previous} span={span} />
          ) : (
            <p className="muted">Waiting for the first step…</p>
          )}
          <Timeline
            frames={frames}
            index={index}
            live={pinned === null}
            playing={playing}
            onPick={(step) => {
              setPlaying(false);
              setPinned(step);
            }}
            onLive={() => {
              setPlaying(false);
              setPinned(null);
            }}
            onPlay={() => {
              if (!playing && index >= frames.length - 1) setPinned(frames[0]?.step ?? null);
              setPlaying(!playing);
            }}
          />
        </div>
        <aside className="side">
          {frame && <BranchPanel id={id} frame={frame} onSpan={setSpan} />}
          <LineagePanel id={id} refreshKey={`${state}`} />
          <CopyCode call={{ procedure: 'generations.watch', input: { id } }} title="Watch this generation from code" />
        </aside>
      </div>
    </section>
  );
}

function Timeline(props: {
  frames: Frame[];
  index: number;
  live: boolean;
  playing: boolean;
  onPick: (step: number) => void;
  onLive: () => void;
  onPlay: () => void;
}) {
  const { frames, index } = props;
  if (frames.length === 0) return null;
  const first = frames[0]!.step;
  const last = frames.at(-1)!.step;
  const shown = frames[index]?.step ?? last;
  return (
    <div className="timeline" role="group" aria-label="Timeline">
      <label htmlFor="scrubber">
        Step <output htmlFor="scrubber">{shown}</output> of {first}–{last}
      </label>
      <input
        id="scrubber"
        type="range"
        min={0}
        max={frames.length - 1}
        step={1}
        value={index}
        aria-valuetext={`step ${shown}`}
        onChange={(e) => props.onPick(frames[Number(e.target.value)]!.step)}
      />
      <div className="row">
        <button type="button" onClick={props.onPlay} aria-pressed={props.playing}>
          {props.playing ? 'Pause' : 'Play'}
        </button>
        <button type="button" onClick={props.onLive} disabled={props.live} aria-pressed={props.live}>
          Latest
        </button>
      </div>
    </div>
  );
}

type Mode = 'settings' | 'renoise' | 'regrow' | 'prompt';

/** Branch or refine from the step on screen; the new generation opens when it starts. */
function BranchPanel({ id, frame, onSpan }: { id: string; frame: Frame; onSpan: (span: [number, number] | null) => void }) {
  const { client } = useApi();
  const [mode, setMode] = useState<Mode>('settings');
  const [raw, setRaw] = useState<Record<string, string>>({ seed: '', guidance: '', imageGuidance: '', steps: '' });
  const [image, setImage] = useState('0');
  const [to, setTo] = useState('0.3');
  const [from, setFrom] = useState('1');
  const [until, setUntil] = useState('1');
  const [reopen, setReopen] = useState('0.5');
  const [prompt, setPrompt] = useState('');
  const [errors, setErrors] = useState<FieldError[]>([]);
  const [busy, setBusy] = useState(false);
  const n = frame.pieces.length;

  useEffect(() => {
    onSpan(mode === 'regrow' ? [Number(from) - 1, Number(until)] : null);
  }, [mode, from, until, onSpan]);

  const overrides = useMemo(() => {
    const o: Record<string, number | string> = {};
    for (const [k, v] of Object.entries(raw)) if (v.trim() !== '') o[k] = Number.isFinite(Number(v)) ? Number(v) : v;
    return o;
  }, [raw]);

  const call = useMemo((): ApiCall => {
    const base = { from: { generationId: id, step: frame.step }, ...(Object.keys(overrides).length ? { overrides } : {}) };
    // Positions count the generated output (as on screen), never the prompt.
    if (mode === 'settings') return { procedure: 'generations.branch', input: base };
    if (mode === 'renoise')
      return {
        procedure: 'generations.refine',
        input: { ...base, op: { op: 'renoiseImage', image: Number(image), to: Number(to) } },
      };
    if (mode === 'regrow')
      return {
        procedure: 'generations.refine',
        input: {
          ...base,
          op: { op: 'deleteText', start: Number(from) - 1, end: Number(until), reopenTo: Number(reopen) },
        },
      };
    return { procedure: 'generations.refine', input: { ...base, op: { op: 'replacePrompt', prompt } } };
  }, [id, frame.step, overrides, mode, image, to, from, until, reopen, prompt]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setErrors([]);
    setBusy(true);
    try {
      const input = call.input as Parameters<typeof client.generations.refine>[0];
      const g = call.procedure === 'generations.branch' ? await client.generations.branch(input) : await client.generations.refine(input);
      navigate(null, `/g/${g.id}`);
    } catch (error) {
      setErrors(
        codeOf(error) === 'BAD_REQUEST' || codeOf(error) === 'PRECONDITION_FAILED'
          ? fieldErrors(error, 'overrides')
          : [{ field: null, message: error instanceof Error ? error.message : String(error) }],
      );
    } finally {
      setBusy(false);
    }
  };
  const err = (field: string) =>
    errors
      .filter((x) => x.field === field || (field === 'op' && (x.field === 'op' || x.field === null)))
      .map((x) => x.message)
      .join('; ') || undefined;
  const modes: [Mode, string][] = [
    ['settings', 'New settings'],
    ['renoise', 'Re-noise image'],
    ['regrow', 'Regrow text'],
    ['prompt', 'Replace prompt'],
  ];
  return (
    <form className="panel branch" onSubmit={(e) => void submit(e)} noValidate aria-labelledby="branch-title">
      <h3 id="branch-title">Branch from step {frame.step}</h3>
      <fieldset className="modes">
        <legend>What changes</legend>
        {modes.map(([m, label]) => (
          <label key={m} className="radio">
            <input type="radio" name="mode" value={m} checked={mode === m} onChange={() => setMode(m)} /> {label}
          </label>
        ))}
      </fieldset>
      <div className="grid2">
        {(['seed', 'guidance', 'imageGuidance', 'steps'] as const).map((k) => (
          <Field
            key={k}
            label={{ seed: 'New seed', guidance: 'Guidance', imageGuidance: 'Image guidance', steps: 'Steps' }[k]}
            htmlFor={`branch-${k}`}
            error={err(k)}
          >
            <input
              id={`branch-${k}`}
              inputMode="decimal"
              placeholder="unchanged"
              value={raw[k]}
              onChange={(e) => setRaw({ ...raw, [k]: e.target.value })}
            />
          </Field>
        ))}
      </div>
      {mode === 'renoise' && (
        <div className="grid2">
          <Field label="Image" htmlFor="renoise-image" error={undefined}>
            <select id="renoise-image" value={image} onChange={(e) => setImage(e.target.value)} disabled={frame.images.length === 0}>
              {frame.images.map((im) => (
                <option key={im.index} value={im.index}>
                  image {im.index + 1} (t {im.clock.toFixed(2)})
                </option>
              ))}
            </select>
          </Field>
          <Field label="Re-noise to time" htmlFor="renoise-to" help="0 = pure noise, 1 = unchanged" error={err('op')}>
            <input id="renoise-to" type="number" min={0} max={1} step={0.05} value={to} onChange={(e) => setTo(e.target.value)} />
          </Field>
        </div>
      )}
      {mode === 'regrow' && (
        <div className="grid3">
          <Field label="From token" htmlFor="span-from" error={undefined}>
            <input id="span-from" type="number" min={1} max={n} value={from} onChange={(e) => setFrom(e.target.value)} />
          </Field>
          <Field label="To token" htmlFor="span-to" error={undefined}>
            <input id="span-to" type="number" min={1} max={n} value={until} onChange={(e) => setUntil(e.target.value)} />
          </Field>
          <Field label="Text clock" htmlFor="span-reopen" help="moved back to regrow" error={err('op')}>
            <input id="span-reopen" type="number" min={0} max={1} step={0.05} value={reopen} onChange={(e) => setReopen(e.target.value)} />
          </Field>
        </div>
      )}
      {mode === 'prompt' && (
        <Field label="New prompt" htmlFor="replace-prompt" error={err('op')}>
          <textarea id="replace-prompt" rows={2} value={prompt} onChange={(e) => setPrompt(e.target.value)} />
        </Field>
      )}
      {mode !== 'prompt' && mode !== 'regrow' && mode !== 'renoise' && <ErrorNote error={err('op') ?? null} />}
      <button type="submit" className="primary" disabled={busy}>
        {mode === 'settings' ? `Branch from step ${frame.step}` : `Refine from step ${frame.step}`}
      </button>
      <CopyCode call={call} />
    </form>
  );
}

/** The tree of branches this generation belongs to; pick two to see side by side. */
function LineagePanel({ id, refreshKey }: { id: string; refreshKey: string }) {
  const { client } = useApi();
  const [tree, setTree] = useState<Lineage | null>(null);
  const [picked, setPicked] = useState<string[]>([]);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(() => {
    let alive = true;
    const load = () =>
      client.generations.lineage(id).then(
        (t) => alive && setTree(t),
        () => undefined,
      );
    void load();
    // Visibility is eventually consistent: a branch just made shows up a moment later.
    timer.current = setTimeout(() => void load(), 1500);
    return () => {
      alive = false;
      if (timer.current) clearTimeout(timer.current);
    };
  }, [client, id, refreshKey]);
  if (!tree) return null;
  const children = new Map<string | null, Lineage['nodes']>();
  for (const n of tree.nodes) {
    const p = n.id === tree.rootId ? null : n.parentId;
    children.set(p, [...(children.get(p) ?? []), n]);
  }
  const toggle = (nid: string) => setPicked((p) => (p.includes(nid) ? p.filter((x) => x !== nid) : [...p, nid].slice(-2)));
  const render = (parent: string | null) => {
    const kids = children.get(parent) ?? [];
    if (kids.length === 0) return null;
    return (
      <ul>
        {kids.map((n) => (
          <li key={n.id}>
            <div className="row">
              <input
                type="checkbox"
                id={`pick-${n.id}`}
                checked={picked.includes(n.id)}
                onChange={() => toggle(n.id)}
                aria-label={`compare ${n.id}`}
              />
              <a href={`/g/${n.id}`} aria-current={n.id === id ? 'page' : undefined} onClick={(e) => navigate(e, `/g/${n.id}`)}>
                {n.id.slice(0, 12)}
              </a>
              <StateBadge state={n.state} />
              <span className="muted">{n.branchedFrom ? `from step ${n.branchedFrom.step}` : 'root'}</span>
            </div>
            {render(n.id)}
          </li>
        ))}
      </ul>
    );
  };
  return (
    <nav className="panel lineage" aria-labelledby="lineage-title">
      <h3 id="lineage-title">Lineage ({tree.nodes.length})</h3>
      {render(null)}
      <a
        className={`button${picked.length === 2 ? '' : ' disabled'}`}
        aria-disabled={picked.length !== 2}
        href={picked.length === 2 ? `/compare/${picked[0]}/${picked[1]}` : undefined}
        onClick={(e) => picked.length === 2 && navigate(e, `/compare/${picked[0]}/${picked[1]}`)}
      >
        Compare the two picked side by side
      </a>
    </nav>
  );
}

/** Two generations side by side, each with its own timeline. */
export function CompareView({ a, b }: { a: string; b: string }) {
  return (
    <section aria-label="Side by side" className="compare">
      <GenerationColumn id={a} />
      <GenerationColumn id={b} />
    </section>
  );
}

function GenerationColumn({ id }: { id: string }) {
  const live = useGeneration(id);
  const [pinned, setPinned] = useState<number | null>(null);
  const frames = live.frames;
  const index =
    pinned === null
      ? frames.length - 1
      : Math.max(
          0,
          frames.findIndex((f) => f.step === pinned),
        );
  const frame = frames[index] ?? null;
  return (
    <article className="panel" aria-label={`generation ${id}`}>
      <h3>
        <a href={`/g/${id}`} onClick={(e) => navigate(e, `/g/${id}`)}>
          {id}
        </a>{' '}
        <StateBadge state={frame?.state ?? live.info?.state ?? 'queued'} />
      </h3>
      {frame ? <TextView id={id} frame={frame} previous={frames[index - 1] ?? null} /> : <p className="muted">waiting…</p>}
      {frames.length > 0 && (
        <label className="stack">
          Step {frame?.step}
          <input
            type="range"
            min={0}
            max={frames.length - 1}
            value={index}
            onChange={(e) => setPinned(frames[Number(e.target.value)]!.step)}
          />
        </label>
      )}
    </article>
  );
}
