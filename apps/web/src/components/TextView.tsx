import { insertedMask } from '../lib/insertions.js';
import { imageSlots } from '../lib/tokens.js';
import type { Frame } from '../generation.js';
import { Preview } from './common.js';

/**
 * The generated text at one step, tokens in place: the ones inserted at this step highlighted,
 * each `<image>` replaced by its preview at this step with its own clock. `span` marks tokens
 * selected for deletion (0-based, end exclusive).
 */
export function TextView({
  id,
  frame,
  previous,
  span,
}: {
  id: string;
  frame: Frame;
  previous: Frame | null;
  span?: [number, number] | null;
}) {
  const fresh = insertedMask(previous?.pieces ?? [], frame.pieces);
  const slots = imageSlots(frame.pieces);
  const newCount = fresh.filter(Boolean).length;
  if (frame.pieces.length === 0)
    return (
      <p className="text-view empty" data-step={frame.step}>
        No text yet: insertions appear here as the text clock runs.
      </p>
    );
  return (
    <div className="text-view" aria-label={`text at step ${frame.step}`} data-step={frame.step}>
      <p className="tokens">
        {frame.pieces.map((piece, i) => {
          const slot = slots[i];
          const selected = span && i >= span[0] && i < span[1];
          const cls = `token${fresh[i] ? ' new' : ''}${selected ? ' selected' : ''}`;
          if (slot !== null && slot !== undefined) {
            const image = frame.images.find((x) => x.index === slot);
            return (
              <span key={i} className={`${cls} image-token`} data-token={i}>
                {image ? <Preview id={id} index={slot} step={frame.step} clock={image.clock} /> : <span className="muted">[image]</span>}
              </span>
            );
          }
          return (
            <span key={i} className={cls} data-token={i} title={`token ${i + 1}`}>
              {piece.trim()}
            </span>
          );
        })}
      </p>
      <p className="sr-only" aria-live="polite">
        {newCount > 0 ? `${newCount} new token${newCount === 1 ? '' : 's'} at step ${frame.step}` : ''}
      </p>
    </div>
  );
}
