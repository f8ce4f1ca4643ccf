import type { Model } from '@oneflow/sdk/browser';
import { useEffect, useMemo, useRef, useState, type DragEvent, type FormEvent, type KeyboardEvent } from 'react';
import { useApi } from '../api.js';
import type { ApiCall } from '../lib/codegen.js';
import { codeOf, fieldErrors, type FieldError } from '../lib/errors.js';
import { createRequestSchema, paramFields, paramValues } from '../lib/params.js';
import { readPng, type Attachment } from '../lib/png.js';
import { IMAGE_TOKEN } from '../lib/tokens.js';
import { navigate } from '../router.js';
import { CopyCode, ErrorNote, Field } from './common.js';

/** The generate form: model picker, prompt with PNG upload / drop, parameters generated from the schema and the model. */
export function GenerateForm() {
  const { client } = useApi();
  const [models, setModels] = useState<Model[] | null>(null);
  const [schema, setSchema] = useState<Record<string, object>>({});
  const [loadError, setLoadError] = useState<string | null>(null);
  const [modelName, setModelName] = useState('');
  const [prompt, setPrompt] = useState('');
  const [raw, setRaw] = useState<Record<string, string>>({});
  const [images, setImages] = useState<Attachment[]>([]);
  const [errors, setErrors] = useState<FieldError[]>([]);
  const [busy, setBusy] = useState(false);
  const [dragging, setDragging] = useState(false);
  const fileInput = useRef<HTMLInputElement>(null);
  const promptRef = useRef<HTMLTextAreaElement>(null);

  useEffect(() => {
    let alive = true;
    client.models.list().then(
      (m) => {
        if (!alive) return;
        setModels(m);
        setModelName((cur) => cur || (m[0]?.name ?? ''));
      },
      (e: unknown) => alive && setLoadError(`could not load the models: ${e instanceof Error ? e.message : String(e)}`),
    );
    fetch('/openapi.json')
      .then((r) => r.json())
      .then((doc: unknown) => alive && setSchema(createRequestSchema(doc)))
      .catch(() => undefined);
    return () => {
      alive = false;
    };
  }, [client]);

  const model = models?.find((m) => m.name === modelName) ?? null;
  const fields = useMemo(() => (model ? paramFields(schema, model) : []), [schema, model]);
  const input = useMemo(
    () => ({ model: modelName, prompt, ...(images.length ? { images: images.map((i) => i.base64) } : {}), ...paramValues(fields, raw) }),
    [modelName, prompt, images, fields, raw],
  );
  const call: ApiCall = { procedure: 'generations.create', input };
  const err = (field: string) =>
    errors
      .filter((e) => e.field === field)
      .map((e) => e.message)
      .join('; ') || undefined;
  const formLevel = errors
    .filter((e) => e.field === null || !['model', 'prompt', 'images', ...fields.map((f) => f.name)].includes(e.field))
    .map((e) => e.message)
    .join('; ');

  const submit = async (e?: FormEvent) => {
    e?.preventDefault();
    if (busy) return;
    setErrors([]);
    setBusy(true);
    try {
      const g = await client.generations.create(input);
      navigate(null, `/g/${g.id}`);
    } catch (error) {
      setErrors(codeOf(error) ? fieldErrors(error) : [{ field: null, message: error instanceof Error ? error.message : String(error) }]);
    } finally {
      setBusy(false);
    }
  };

  const onKey = (e: KeyboardEvent) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      void submit();
    }
  };

  const attach = async (files: FileList | File[]) => {
    const added: Attachment[] = [];
    const refused: FieldError[] = [];
    for (const f of Array.from(files)) {
      const r = await readPng(f);
      if ('error' in r) refused.push({ field: 'images', message: r.error });
      else added.push(r);
    }
    setErrors(refused);
    if (added.length === 0) return;
    setImages((cur) => [...cur, ...added]);
    // Each input image needs an <image> slot in the prompt: add the missing ones in front.
    setPrompt((p) => {
      const have = p.split(/\s+/).filter((w) => w === IMAGE_TOKEN).length;
      const need = images.length + added.length - have;
      return need > 0 ? `${Array(need).fill(IMAGE_TOKEN).join(' ')} ${p}`.trim() : p;
    });
  };
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setDragging(false);
    void attach(e.dataTransfer.files);
  };

  if (loadError) return <ErrorNote error={loadError} />;
  return (
    <form className="panel generate" onSubmit={(e) => void submit(e)} onKeyDown={onKey} noValidate aria-labelledby="generate-title">
      <h2 tabIndex={-1} id="generate-title">
        Generate
      </h2>
      <Field label="Model" htmlFor="model" error={err('model')}>
        <select id="model" value={modelName} onChange={(e) => setModelName(e.target.value)} disabled={!models}>
          {(models ?? []).map((m) => (
            <option key={m.name} value={m.name}>
              {m.name}
            </option>
          ))}
        </select>
      </Field>
      {model && (
        <p className="muted model-info" data-testid="model-info">
          images {model.imageShape.join('×')} · up to {model.maxTokens} tokens, {model.maxImages} images · defaults: steps{' '}
          {model.defaults.steps}, guidance {model.defaults.guidance}, image guidance {model.defaults.imageGuidance}, temperature{' '}
          {model.defaults.temperature}, top-k {model.defaults.topK}
        </p>
      )}
      <div
        className={`drop${dragging ? ' dragging' : ''}`}
        onDragOver={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={onDrop}
        data-testid="dropzone"
      >
        <Field
          label="Prompt"
          htmlFor="prompt"
          help={
            model
              ? `${model.vocabulary ? `${model.vocabulary.length} words` : 'free text'}; ${IMAGE_TOKEN} takes the next image · Ctrl/⌘+Enter submits`
              : undefined
          }
          error={err('prompt')}
        >
          <textarea
            id="prompt"
            ref={promptRef}
            rows={3}
            value={prompt}
            onChange={(e) => setPrompt(e.target.value)}
            placeholder="count from two to five"
            aria-describedby="prompt-help"
            aria-invalid={err('prompt') ? true : undefined}
          />
        </Field>
        {model?.vocabulary && (
          <details className="vocab">
            <summary>Vocabulary</summary>
            <p className="muted">{model.vocabulary.join(' ')}</p>
          </details>
        )}
        <Field label="Images (PNG; drop files here)" htmlFor="images" error={err('images')}>
          <input
            id="images"
            ref={fileInput}
            type="file"
            accept="image/png"
            multiple
            onChange={(e) => {
              if (e.target.files) void attach(e.target.files);
              e.target.value = '';
            }}
          />
        </Field>
        {images.length > 0 && (
          <ul className="thumbs" aria-label="Attached images">
            {images.map((im, i) => (
              <li key={`${im.name}-${i}`}>
                <img src={im.url} alt={`input image ${i + 1}: ${im.name}`} width={56} height={56} />
                <button type="button" onClick={() => setImages(images.filter((_, j) => j !== i))} aria-label={`remove ${im.name}`}>
                  ×
                </button>
              </li>
            ))}
          </ul>
        )}
      </div>
      <fieldset className="params">
        <legend>Parameters (blank = model default)</legend>
        <div className="grid3">
          {fields.map((f) => (
            <Field
              key={f.name}
              label={f.label}
              htmlFor={`param-${f.name}`}
              help={`${f.help}; ${rangeText(f.min, f.max, f.exclusiveMin)}`}
              error={err(f.name)}
            >
              <input
                id={`param-${f.name}`}
                inputMode={f.integer ? 'numeric' : 'decimal'}
                placeholder={String(f.defaultValue)}
                value={raw[f.name] ?? ''}
                onChange={(e) => setRaw({ ...raw, [f.name]: e.target.value })}
                aria-describedby={`param-${f.name}-help`}
                aria-invalid={err(f.name) ? true : undefined}
              />
            </Field>
          ))}
        </div>
      </fieldset>
      <ErrorNote error={formLevel || null} />
      <div className="row">
        <button type="submit" className="primary" disabled={busy || !model}>
          {busy ? 'Starting…' : 'Generate'}
        </button>
        <span className="muted">Ctrl/⌘ + Enter</span>
      </div>
      <CopyCode call={call} />
    </form>
  );
}

function rangeText(min: number | null, max: number | null, exclusiveMin: boolean): string {
  if (min === null && max === null) return 'any';
  return `${min === null ? '' : `${exclusiveMin ? '>' : '≥'} ${min}`}${min !== null && max !== null ? ', ' : ''}${max === null ? '' : `≤ ${max}`}`;
}
