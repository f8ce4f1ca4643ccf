import { useEffect, useId, useState, type ReactNode } from 'react';
import { previewUrl, useApi } from '../api.js';
import { curlSnippet, sdkSnippet, type ApiCall } from '../lib/codegen.js';

export function StateBadge({ state }: { state: string }) {
  return <span className={`badge state-${state}`}>{state}</span>;
}

/** Field wrapper: label, control, help and the API's message for this field (announced when it appears). */
export function Field(props: {
  label: string;
  htmlFor: string;
  help?: string | undefined;
  error?: string | undefined;
  children: ReactNode;
}) {
  return (
    <div className={`field${props.error ? ' has-error' : ''}`}>
      <label htmlFor={props.htmlFor}>{props.label}</label>
      {props.children}
      {props.help && (
        <small className="help" id={`${props.htmlFor}-help`}>
          {props.help}
        </small>
      )}
      {props.error && (
        <p className="field-error" id={`${props.htmlFor}-error`} role="alert">
          {props.error}
        </p>
      )}
    </div>
  );
}

/** An image of a generation at a step, fetched with the API key, shown pixelated at the chosen zoom. */
export function Preview({ id, index, step, clock, label }: { id: string; index: number; step: number; clock: number; label?: string }) {
  const { client, settings } = useApi();
  const [url, setUrl] = useState<string | null>(null);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    let alive = true;
    setFailed(false);
    previewUrl(client, settings.apiKey, id, index, step).then(
      (u) => alive && setUrl(u),
      () => alive && setFailed(true),
    );
    return () => {
      alive = false;
    };
  }, [client, settings.apiKey, id, index, step]);
  // The model's image size, read from the PNG itself; 28 px until it has loaded.
  const [natural, setNatural] = useState<[number, number]>([28, 28]);
  const [w, h] = [natural[0] * settings.zoom, natural[1] * settings.zoom];
  return (
    <figure className="preview" data-image={index} data-step={step}>
      {url ? (
        <img
          src={url}
          width={w}
          height={h}
          onLoad={(e) => setNatural([e.currentTarget.naturalWidth, e.currentTarget.naturalHeight])}
          alt={label ?? `image ${index + 1} at step ${step}, clock ${clock.toFixed(2)}`}
        />
      ) : (
        <div className="preview-placeholder" style={{ width: w, height: h }} aria-hidden="true">
          {failed ? '×' : ''}
        </div>
      )}
      <figcaption>
        <span className="clock-bar" aria-hidden="true">
          <span style={{ width: `${Math.round(clock * 100)}%` }} />
        </span>
        <span>
          image {index + 1} · t {clock.toFixed(2)}
        </span>
      </figcaption>
    </figure>
  );
}

/** "Copy as SDK code" and "copy as curl" for what is on screen; the code is shown too. */
export function CopyCode({ call, title = 'Equivalent API call' }: { call: ApiCall | null; title?: string }) {
  const { baseUrl } = useApi();
  const [tab, setTab] = useState<'sdk' | 'curl'>('sdk');
  const [copied, setCopied] = useState<string | null>(null);
  const id = useId();
  if (!call) return null;
  const code = { sdk: sdkSnippet(call, baseUrl), curl: curlSnippet(call, baseUrl) };
  const copy = async (which: 'sdk' | 'curl') => {
    setTab(which);
    try {
      await navigator.clipboard.writeText(code[which]);
      setCopied(which);
    } catch {
      setCopied(null);
    }
  };
  return (
    <details className="copy-code">
      <summary>{title}</summary>
      <div className="row" role="group" aria-label="Copy the call">
        <button type="button" onClick={() => void copy('sdk')}>
          Copy as SDK code
        </button>
        <button type="button" onClick={() => void copy('curl')}>
          Copy as curl
        </button>
        <span role="status" className="muted">
          {copied ? `copied ${copied === 'sdk' ? 'SDK code' : 'curl command'}` : ''}
        </span>
      </div>
      <pre id={id} className="code" data-kind={tab} tabIndex={0} aria-label={tab === 'sdk' ? 'SDK code' : 'curl command'}>
        {code[tab]}
      </pre>
    </details>
  );
}

export function ErrorNote({ error }: { error: string | null }) {
  if (!error) return null;
  return (
    <p className="form-error" role="alert">
      {error}
    </p>
  );
}
