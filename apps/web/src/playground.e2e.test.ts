import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '@oneflow/devstack';
import { KEYS, startStack, type Stack } from '@oneflow/sdk/testing';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

// The playground in a real browser (Debian's Chromium, headless) against the real stack: the API
// process serving the freshly built app at `/`, a worker process with the tiny model, the shared
// Temporal dev server. Screenshots go to $ONEFLOW_SCREENSHOTS (docs/screenshots with
// `pnpm --filter web screenshots`), else to a temporary directory.
declare module 'vitest' {
  // Provided by the Vitest global setup (infra/dev/src/vitest-global-setup.ts), outside this tsconfig.
  export interface ProvidedContext {
    temporalAddress: string;
  }
}

const execFileAsync = promisify(execFile);
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const WEB = path.join(REPO_ROOT, 'apps', 'web');
const SHOTS = process.env['ONEFLOW_SCREENSHOTS']
  ? path.resolve(REPO_ROOT, process.env['ONEFLOW_SCREENSHOTS'])
  : mkdtempSync(path.join(tmpdir(), 'oneflow-shots-'));
const MODEL = 'tiny-model';
const BUNDLE = mkdtempSync(path.join(tmpdir(), 'oneflow-web-'));

let stack: Stack;
let browser: Browser;
let context: BrowserContext;
let page: Page;
/** The main flow's generation: every later flow starts from it. */
let mainId = '';

beforeAll(async () => {
  // The bundle the API serves, built from this tree as `infra/dev/setup` builds it — into a
  // directory of its own, so apps/web/dist (which other tests' APIs serve) never goes missing.
  await execFileAsync(
    path.join(WEB, 'node_modules', '.bin', 'vite'),
    ['build', '--logLevel', 'warn', '--outDir', BUNDLE, '--emptyOutDir'],
    { cwd: WEB },
  );
  stack = await startStack({ address: inject('temporalAddress'), namespace: 'test-web', worker: true, webDir: BUNDLE });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: stack.api.baseUrl });
  page = await context.newPage();
  mkdirSync(SHOTS, { recursive: true });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
  rmSync(BUNDLE, { recursive: true, force: true });
  if (!process.env['ONEFLOW_SCREENSHOTS']) rmSync(SHOTS, { recursive: true, force: true });
});

const shot = (p: Page, name: string) => p.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

/** Presses Tab until the focused element matches `selector` (keyboard only, as a user would). */
async function tabTo(p: Page, selector: string, max = 60): Promise<void> {
  for (let i = 0; i < max; i++) {
    await p.keyboard.press('Tab');
    if (await p.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return;
  }
  throw new Error(`Tab never reached ${selector}`);
}

/** The generation id in the URL once the app has navigated to it. */
async function generationIdOf(p: Page, other = ''): Promise<string> {
  await p.waitForURL((u) => /^\/g\/gen-/.test(u.pathname) && u.pathname !== `/g/${other}`, { timeout: 30_000 });
  return new URL(p.url()).pathname.split('/')[2]!;
}

/** Waits until the generation on screen shows `state`. */
async function waitForState(p: Page, state: string, timeout = 50_000): Promise<void> {
  try {
    await p
      .locator('.gen-header .badge')
      .filter({ hasText: new RegExp(`^${state}$`) })
      .waitFor({ timeout });
  } catch (error) {
    const header = await p
      .locator('.gen-header')
      .textContent()
      .catch(() => null);
    throw new Error(`never ${state} at ${p.url()}: ${header ?? '(no generation on screen)'}`, { cause: error });
  }
}

/** The tokens on screen (surface texts; images as <image>). */
async function tokensOnScreen(p: Page): Promise<string[]> {
  return p.$$eval('.canvas .tokens > .token', (els) =>
    els.map((e) => (e.classList.contains('image-token') ? '<image>' : (e.textContent ?? ''))),
  );
}

async function axeSerious(p: Page): Promise<string[]> {
  const axe = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  // Evaluated, not injected as a <script>: the page's content security policy allows no inline script.
  await p.evaluate(axe);
  const violations = await p.evaluate(async () => {
    const run = (
      window as unknown as {
        axe: { run: (c: Document) => Promise<{ violations: { id: string; impact: string; nodes: { target: unknown[] }[] }[] }> };
      }
    ).axe;
    const r = await run.run(document);
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, targets: v.nodes.map((n) => JSON.stringify(n.target)) }));
  });
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.targets.join(', ')}`);
}

describe('the playground in a real browser', () => {
  it('is served at / with the models and their defaults, no asset from another origin', async () => {
    const foreign: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(stack.api.baseUrl) && !r.url().startsWith('blob:') && !r.url().startsWith('data:')) foreign.push(r.url());
    });
    await page.goto(stack.api.baseUrl);
    // No key yet: the API refuses, and the app says so.
    await expect.poll(() => page.locator('.form-error').textContent()).toContain('API key');
    await page.evaluate(
      (key) => localStorage.setItem('oneflow.settings', JSON.stringify({ apiKey: key, theme: 'light', zoom: 6 })),
      KEYS.acme,
    );
    await page.reload();
    await expect.poll(() => page.locator('#model option').allTextContents()).toEqual([MODEL]);
    const defaults = (await stack.acme.models.list())[0]!.defaults;
    const info = await page.getByTestId('model-info').textContent();
    expect(info).toContain(`steps ${defaults.steps}`);
    expect(info).toContain(`image guidance ${defaults.imageGuidance}`);
    expect(await page.locator('#param-steps').getAttribute('placeholder')).toBe(String(defaults.steps));
    expect(await page.locator('#param-temperature').getAttribute('placeholder')).toBe(String(defaults.temperature));
    expect(await axeSerious(page)).toEqual([]);
    await shot(page, 'generate');
    expect(foreign).toEqual([]);
  });

  it('keyboard only: prompt, parameters, Ctrl+Enter; text and images grow live, the newest insertions highlighted', async () => {
    await page.goto(stack.api.baseUrl);
    await page.locator('#model').waitFor();
    await tabTo(page, '#prompt');
    await page.keyboard.type('count from two to five');
    await tabTo(page, '#param-steps');
    await page.keyboard.type('16');
    await tabTo(page, '#param-seed');
    await page.keyboard.type('3');
    await page.keyboard.press('Control+Enter');
    mainId = await generationIdOf(page);
    // Sample the live view while it runs: steps, token counts, highlighted insertions, images.
    const seen = new Set<number>();
    const counts = new Set<number>();
    let highlighted = 0;
    let imagesSeen = 0;
    const end = Date.now() + 90_000;
    for (;;) {
      const snap = await page.evaluate(() => ({
        step: Number(document.querySelector('.text-view')?.getAttribute('data-step') ?? -1),
        tokens: document.querySelectorAll('.canvas .tokens > .token').length,
        fresh: document.querySelectorAll('.canvas .tokens > .token.new').length,
        images: document.querySelectorAll('.canvas .preview img').length,
        state: document.querySelector('.gen-header .badge')?.textContent ?? '',
      }));
      if (snap.step >= 0) seen.add(snap.step);
      counts.add(snap.tokens);
      highlighted = Math.max(highlighted, snap.fresh);
      imagesSeen = Math.max(imagesSeen, snap.images);
      if (snap.state === 'succeeded' || Date.now() > end) break;
      await page.waitForTimeout(40);
    }
    await waitForState(page, 'succeeded');
    const done = await stack.acme.generations.get(mainId);
    expect(seen.size).toBeGreaterThan(2);
    expect(counts.size).toBeGreaterThan(2);
    expect(highlighted).toBeGreaterThan(0);
    expect(done.images.length).toBeGreaterThan(0);
    expect(imagesSeen).toBeGreaterThan(0);
    expect((await tokensOnScreen(page)).join(' ')).toBe(done.text);
    expect(await page.getByTestId('progress').textContent()).toBe(`step ${done.step} / ${done.steps}`);
    // Previews are the API's PNGs at that step, shown pixelated at the chosen zoom.
    const img = page.locator('.canvas .preview img').first();
    expect(await img.evaluate((e) => getComputedStyle(e).imageRendering)).toBe('pixelated');
    expect(await img.evaluate((e) => (e as HTMLImageElement).naturalWidth)).toBe(28);
    expect(await img.getAttribute('width')).toBe(String(28 * 6));
    await shot(page, 'live');
  });

  it('scrubs to an early step and shows the text and images as they were then; plays back', async () => {
    const steps: Record<number, string> = {};
    for await (const e of stack.acme.generations.watch(mainId)) steps[e.step] = e.text;
    const scrubber = page.locator('#scrubber');
    await scrubber.focus();
    await page.keyboard.press('Home');
    await expect.poll(() => page.locator('.text-view').getAttribute('data-step')).toBe('0');
    for (let i = 0; i < 6; i++) await page.keyboard.press('ArrowRight');
    const at = Number(await page.locator('.text-view').getAttribute('data-step'));
    expect(at).toBe(6);
    expect((await tokensOnScreen(page)).join(' ')).toBe(steps[6]);
    for (const fig of await page.locator('.canvas .preview').all()) expect(await fig.getAttribute('data-step')).toBe('6');
    // Laid out as boxes: no preview (image, clock bar, caption) overlaps another one or a word.
    const overlaps = await page.$$eval('.canvas .tokens > .token', (els) => {
      // A token's box: everything it draws (a preview's caption text included), not just its own rect.
      const drawn = (e: Element) =>
        [e, ...e.querySelectorAll('*')].map((x) => x.getBoundingClientRect()).filter((r) => r.width > 0 && r.height > 0);
      const boxes = els.map((e) => {
        const rs = drawn(e);
        const r = {
          left: Math.min(...rs.map((x) => x.left)),
          top: Math.min(...rs.map((x) => x.top)),
          right: Math.max(...rs.map((x) => x.right)),
          bottom: Math.max(...rs.map((x) => x.bottom)),
        };
        return { name: e.textContent ?? '', r };
      });
      const out: string[] = [];
      for (let i = 0; i < boxes.length; i++)
        for (let j = i + 1; j < boxes.length; j++) {
          const [a, b] = [boxes[i]!.r, boxes[j]!.r];
          if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1)
            out.push(`${boxes[i]!.name} × ${boxes[j]!.name}`);
        }
      return out;
    });
    expect(overlaps).toEqual([]);
    await shot(page, 'timeline');
    // Every step is on the timeline (nothing missing between two looks).
    expect(await scrubber.getAttribute('max')).toBe(String(Object.keys(steps).length - 1));
    await page.getByRole('button', { name: 'Play' }).click();
    await expect
      .poll(() => page.locator('.text-view').getAttribute('data-step'), { timeout: 20_000 })
      .toBe(String(Math.max(...Object.keys(steps).map(Number))));
  });

  it('branches from the step on screen with a new seed; the branch diverges and shows in the lineage, side by side', async () => {
    const scrubber = page.locator('#scrubber');
    await scrubber.focus();
    await page.keyboard.press('Home');
    for (let i = 0; i < 4; i++) await page.keyboard.press('ArrowRight');
    await expect.poll(() => page.locator('#branch-title').textContent()).toBe('Branch from step 4');
    await page.locator('#branch-seed').fill('777');
    await page.getByRole('button', { name: 'Branch from step 4' }).click();
    const branchId = await generationIdOf(page, mainId);
    await waitForState(page, 'succeeded');
    const [parent, branch, lineage] = await Promise.all([
      stack.acme.generations.get(mainId),
      stack.acme.generations.get(branchId),
      stack.acme.generations.lineage(branchId),
    ]);
    expect(branch.parentId).toBe(mainId);
    expect(branch.text).not.toBe(parent.text);
    expect((await tokensOnScreen(page)).join(' ')).toBe(branch.text);
    expect(lineage.nodes.find((n) => n.id === branchId)?.branchedFrom?.step).toBe(4);
    await expect.poll(() => page.locator('.lineage li').count(), { timeout: 15_000 }).toBe(2);
    await page.getByLabel(`compare ${mainId}`).check();
    await page.getByLabel(`compare ${branchId}`).check();
    await page.getByRole('link', { name: 'Compare the two picked side by side' }).click();
    await page.waitForURL(`**/compare/${mainId}/${branchId}`);
    const columns = page.locator('.compare article');
    await expect.poll(() => columns.count()).toBe(2);
    await expect.poll(() => columns.nth(1).locator('.tokens > .token').count(), { timeout: 20_000 }).toBe(branch.text.split(' ').length);
    expect(await axeSerious(page)).toEqual([]);
    await shot(page, 'compare');
  });

  it('refines: re-noises one image to a chosen time from the step on screen', async () => {
    // The first step at which the main generation has an image that is mostly clean.
    const { items: mainSteps } = await stack.acme.generations.steps({ id: mainId, limit: 500 });
    const at = mainSteps.find((s) => (s.imageClocks[0] ?? 0) >= 0.5 && !s.done)?.step;
    expect(at, `no step of ${mainId} with image 0 at t ≥ 0.5 before the end`).toBeDefined();
    await page.goto(`${stack.api.baseUrl}/g/${mainId}`);
    await waitForState(page, 'succeeded');
    await page.locator('#scrubber').focus();
    await page.keyboard.press('Home');
    for (let i = 0; i < at!; i++) await page.keyboard.press('ArrowRight');
    await expect.poll(() => page.locator('#branch-title').textContent()).toBe(`Branch from step ${at}`);
    await page.getByLabel('Re-noise image', { exact: true }).check();
    await page.locator('#renoise-to').fill('0.2');
    await page.getByRole('button', { name: /^Refine from step/ }).click();
    const refinedId = await generationIdOf(page, mainId).catch(async (error: unknown) => {
      const shown = await page.locator('form.branch').allTextContents();
      throw new Error(`the refined generation did not open; on screen: ${shown.join(' | ').slice(0, 600)}`, { cause: error });
    });
    await waitForState(page, 'succeeded');
    const { items } = await stack.acme.generations.steps({ id: refinedId, limit: 500 });
    // The refined generation starts at that step with image 0 back at t = 0.2, and cleans it again.
    expect(items[0]!.step).toBe(at);
    expect(mainSteps[at!]!.imageClocks[0]).toBeGreaterThanOrEqual(0.5);
    expect(items[0]!.imageClocks[0]).toBeCloseTo(0.2, 5);
    expect(items.at(-1)!.imageClocks[0]).toBe(1);
    await page.locator('#scrubber').focus();
    await page.keyboard.press('Home');
    await expect.poll(() => page.locator('.text-view').getAttribute('data-step')).toBe(String(at));
    expect(await page.locator('.timeline label').textContent()).toBe(`Step ${at} of ${at}–${items.at(-1)!.step}`);
    await expect.poll(() => page.locator('.canvas .preview figcaption').first().textContent()).toContain('t 0.20');
  }, 120_000);

  it('cuts the connection mid-stream and resumes with nothing lost', async () => {
    await page.goto(stack.api.baseUrl);
    await page.locator('#prompt').fill('count from one to nine');
    await page.locator('#param-steps').fill('48');
    await page.getByRole('button', { name: 'Generate' }).click();
    const id = await generationIdOf(page);
    await expect.poll(() => page.locator('.text-view').getAttribute('data-step').then(Number), { timeout: 30_000 }).toBeGreaterThan(2);
    stack.api.dropConnections();
    await waitForState(page, 'succeeded');
    const done = await stack.acme.generations.get(id);
    expect((await tokensOnScreen(page)).join(' ')).toBe(done.text);
    // One frame per step from 0 to the last: the resumed stream lost nothing and repeated nothing.
    expect(await page.locator('#scrubber').getAttribute('max')).toBe(String(done.step));
  });

  it('cancels and resumes a generation (view and jobs list)', async () => {
    await page.goto(stack.api.baseUrl);
    await page.locator('#prompt').fill('count from two to nine');
    await page.locator('#param-steps').fill('160');
    await page.getByRole('button', { name: 'Generate' }).click();
    const id = await generationIdOf(page);
    await expect.poll(() => page.locator('.text-view').getAttribute('data-step').then(Number), { timeout: 30_000 }).toBeGreaterThan(1);
    await page.getByRole('button', { name: 'Cancel' }).click();
    await waitForState(page, 'canceled', 30_000);
    const canceled = await stack.acme.generations.get(id);
    expect(canceled.state).toBe('canceled');
    expect(canceled.step).toBeLessThan(canceled.steps ?? Infinity);
    await page.getByRole('link', { name: 'Jobs' }).click();
    await page.getByLabel('Filter generations by state').selectOption('canceled');
    const row = page.locator(`tr[data-id="${id}"]`);
    await row.waitFor({ timeout: 15_000 });
    await shot(page, 'jobs');
    expect(await axeSerious(page)).toEqual([]);
    // The list's curl command, run as shown, answers the same list.
    await page.getByText('Equivalent API call').first().click();
    await page.getByRole('button', { name: 'Copy as curl' }).first().click();
    const curl = await page.evaluate(() => navigator.clipboard.readText());
    expect(curl).toContain('/api/generations?');
    const { stdout } = await execFileAsync('bash', ['-c', curl], { env: { ...process.env, ONEFLOW_API_KEY: KEYS.acme } });
    expect((JSON.parse(stdout) as { items: { id: string }[] }).items.map((g) => g.id)).toContain(id);
    await row.getByRole('button', { name: `resume ${id}` }).click();
    await page.locator(`tr[data-id="${id}"] a`).click();
    await waitForState(page, 'succeeded', 100_000);
    const resumed = await stack.acme.generations.get(id);
    expect(resumed.state).toBe('succeeded');
    expect(resumed.step).toBeGreaterThan(canceled.step);
  }, 180_000);

  it('uploads a PNG for a caption; refuses a non-PNG file; shows the API message next to the field and submits nothing on bad input', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'oneflow-upload-'));
    const png = path.join(dir, 'digit.png');
    writeFileSync(png, await stack.acme.generations.fetchImage(stack.acme.generations.imageUrl(mainId, 0)));
    writeFileSync(path.join(dir, 'notes.txt'), 'not an image');
    // An oversized "PNG": the signature, then more bytes than the API takes for one image.
    writeFileSync(path.join(dir, 'huge.png'), Buffer.concat([readFileSync(png).subarray(0, 8), Buffer.alloc(320_000, 7)]));
    const before = (await stack.acme.generations.list({ limit: 100 })).items.length;
    await page.goto(stack.api.baseUrl);
    await page.locator('#images').setInputFiles(path.join(dir, 'notes.txt'));
    await expect.poll(() => page.locator('#images-error').textContent()).toContain('notes.txt is not a PNG file');
    await page.locator('#prompt').fill('count banana');
    await page.getByRole('button', { name: 'Generate' }).click();
    await expect.poll(() => page.locator('#prompt-error').textContent()).toContain('banana');
    await page.locator('#prompt').fill('count from two to five');
    await page.locator('#param-steps').fill('5000');
    await page.locator('#param-temperature').fill('0');
    await page.getByRole('button', { name: 'Generate' }).click();
    await expect.poll(() => page.locator('#param-steps-error').textContent()).toContain('1024');
    expect(await page.locator('#param-temperature-error').textContent()).toContain('0');
    await page.locator('#param-steps').fill('');
    await page.locator('#param-temperature').fill('');
    await page.locator('#images').setInputFiles(path.join(dir, 'huge.png'));
    await page.getByRole('button', { name: 'Generate' }).click();
    await expect.poll(() => page.locator('#images-error').textContent()).toMatch(/400000|too big|large/i);
    await shot(page, 'bad-input');
    expect(new URL(page.url()).pathname).toBe('/');
    expect((await stack.acme.generations.list({ limit: 100 })).items.length).toBe(before);
    // Now a real caption request: the dropped PNG takes the prompt's <image> slot.
    await page.getByRole('button', { name: 'remove huge.png' }).click();
    await page.locator('#prompt').fill('');
    await page.locator('#images').setInputFiles(png);
    await expect.poll(() => page.locator('#prompt').inputValue()).toBe('<image>');
    await page.locator('#prompt').press('End');
    await page.locator('#prompt').pressSequentially(' what digit is this ?');
    await page.locator('#param-steps').fill('8');
    await page.locator('#prompt').press('Control+Enter');
    const id = await generationIdOf(page);
    await waitForState(page, 'succeeded');
    expect((await stack.acme.generations.get(id)).state).toBe('succeeded');
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists a batch in the jobs view and shows each item live, linked to its generation', async () => {
    const batch = await stack.acme.batches.create({
      items: [0, 1, 2].map((k) => ({ model: MODEL, prompt: 'count from two to four', seed: 40 + k, steps: 8 })),
      concurrency: 2,
    });
    await page.goto(`${stack.api.baseUrl}/jobs`);
    const link = page.getByRole('link', { name: batch.id, exact: true });
    await link.waitFor({ timeout: 15_000 });
    await link.click();
    await page.waitForURL(`**/b/${batch.id}`);
    const rows = page.locator('.panel table tbody tr');
    await expect.poll(() => rows.count(), { timeout: 15_000 }).toBe(3);
    // Live over the batch's stream: every item ends succeeded, its text the API's.
    await expect.poll(() => page.locator('#batch-title .badge').textContent(), { timeout: 60_000 }).toBe('succeeded');
    const done = await stack.acme.batches.get(batch.id);
    expect(done.counts.succeeded).toBe(3);
    for (const item of done.items) {
      const row = page.locator(`tr[data-id="${item.id}"]`);
      await expect.poll(() => row.locator('.badge').textContent()).toBe('succeeded');
      await expect.poll(() => row.locator('td').nth(3).textContent()).toBe(item.text);
    }
    expect(await axeSerious(page)).toEqual([]);
    await page.locator(`tr[data-id="${done.items[1]!.id}"] a`).click();
    await waitForState(page, 'succeeded');
    expect((await tokensOnScreen(page)).join(' ')).toBe(done.items[1]!.text);
  });

  it('works at phone width and in the dark theme', async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: 'dark' });
    const p = await phone.newPage();
    await p.addInitScript(
      (key) => localStorage.setItem('oneflow.settings', JSON.stringify({ apiKey: key, theme: 'system', zoom: 4 })),
      KEYS.acme,
    );
    await p.goto(`${stack.api.baseUrl}/g/${mainId}`);
    await waitForState(p, 'succeeded');
    expect(await p.evaluate(() => getComputedStyle(document.body).backgroundColor)).toBe('rgb(20, 22, 27)');
    const wide = await p.evaluate(() =>
      [...document.querySelectorAll('body *')]
        .filter((e) => e.getBoundingClientRect().right > 391)
        .map((e) => `${e.tagName}.${e.className}`),
    );
    expect(await p.evaluate(() => document.documentElement.scrollWidth), wide.slice(0, 8).join(' ')).toBeLessThanOrEqual(390);
    expect(await axeSerious(p)).toEqual([]);
    await shot(p, 'phone-dark');
    await phone.close();
    // One worker process served every flow above, minutes past its start-up deadline.
    expect({ code: stack.worker?.exitCode, signal: stack.worker?.signalCode }).toEqual({ code: null, signal: null });
  });
});
