/** A message of the API's, and the form field it belongs to (null: the form as a whole). */
export interface FieldError {
  field: string | null;
  message: string;
}

interface Issue {
  path?: (string | number)[];
  message?: string;
}

/** Form fields the API's messages can name, and words in engine messages that point at them. */
const FIELD_HINTS: [RegExp, string][] = [
  [/\bvocabulary\b|\bword\b|\bprompt\b|\btoken/i, 'prompt'],
  [/\bimages?\b|\bpng\b/i, 'images'],
  [/\bsteps\b/i, 'steps'],
  [/\bimage guidance\b|\bw_image\b|imageGuidance/i, 'imageGuidance'],
  [/\bguidance\b/i, 'guidance'],
  [/\btemperature\b/i, 'temperature'],
  [/\btop-?k\b/i, 'topK'],
  [/\bseed\b/i, 'seed'],
];

/**
 * The API's refusal as messages per field: a schema refusal lists zod issues (as JSON in the
 * message, each with a path), an engine refusal is one sentence naming what is wrong (a word
 * outside the vocabulary, an unreadable image). `prefix` drops a leading path part (e.g. `overrides`).
 */
export function fieldErrors(error: unknown, prefix?: string): FieldError[] {
  const message = error instanceof Error ? error.message : String(error);
  const issues = parseIssues(message);
  if (issues) {
    return issues.map((i) => {
      const path = (i.path ?? []).filter((p) => p !== prefix);
      const head = path[0];
      const field = typeof head === 'string' ? head : null;
      return { field, message: `${i.message ?? 'invalid'}${path.length > 1 ? ` (${path.join('.')})` : ''}` };
    });
  }
  const hint = FIELD_HINTS.find(([re]) => re.test(message));
  return [{ field: hint ? hint[1] : null, message }];
}

function parseIssues(message: string): Issue[] | null {
  if (!message.trimStart().startsWith('[')) return null;
  try {
    const parsed: unknown = JSON.parse(message);
    return Array.isArray(parsed) ? (parsed as Issue[]) : null;
  } catch {
    return null;
  }
}

/** The tRPC code of a failed call, or null. */
export function codeOf(error: unknown): string | null {
  return (error as { data?: { code?: string } } | null)?.data?.code ?? null;
}
