/**
 * The demo page (GET /) in a real headless browser: Debian's chromium driven by playwright-core. Uploads
 * examples/chelsea.png through the file input, reads the top label off the page, then uploads a bad file and
 * sees the error. Screenshots: test-output/demo-page*.png (ignored) and docs/demo-page.png (for docs/api.md;
 * written when missing or with UPDATE_SCREENSHOTS=1).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { startTestService, type TestService } from '../../scripts/lib/in-process-service.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OUT = join(ROOT, 'test-output');

// npm run setup installs Debian's chromium; a missing browser is a failed test, not a skipped one.
describe('demo page in headless chromium', () => {
  let svc: TestService;
  let browser: Browser;
  before(async () => {
    // Each is kept as soon as it exists, so that after() stops it even if the other failed to start.
    await Promise.all([
      startTestService().then((s) => {
        svc = s;
      }),
      chromium
        .launch({
          executablePath: CHROMIUM,
          args: [
            '--headless',
            '--no-sandbox',
            '--disable-gpu',
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
            '--no-first-run',
          ],
        })
        .then((b) => {
          browser = b;
        }),
    ]);
    await mkdir(OUT, { recursive: true });
  });
  after(async () => {
    await browser?.close();
    await svc?.close();
  });

  it('curl gets the same static HTML, with the explanation and a curl example in plain text', async () => {
    const res = await fetch(`${svc.url}/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    const html = await res.text();
    assert.match(html, /POST an image to <code>\/predict<\/code>/);
    assert.match(html, /curl -F image=@examples\/chelsea\.png http:\/\/127\.0\.0\.1:8080\/predict/);
  });

  it('shows ranked predictions as bars for an uploaded image, and the error for a bad file', async () => {
    const page = await browser.newPage({ viewport: { width: 900, height: 720 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.goto(`${svc.url}/`);
    // The curl example names this very service.
    assert.equal(await page.textContent('#curl'), `curl -F image=@examples/chelsea.png ${svc.url}/predict`);

    await page.setInputFiles('#file', join(ROOT, 'examples/chelsea.png'));
    await page.waitForSelector('#predictions .prediction');
    const labels = await page.locator('#predictions .prediction .label').allTextContents();
    assert.equal(labels[0], 'Neutral');
    assert.equal(labels.length, 5);
    const widths = await page
      .locator('#predictions .bar > span')
      .evaluateAll((spans) => spans.map((s) => parseFloat((s as HTMLElement).style.width)));
    assert.ok(widths[0]! > 50, `top bar ${widths[0]}%`);
    for (let i = 1; i < widths.length; i++) assert.ok(widths[i - 1]! >= widths[i]!, 'bars are ranked');
    assert.equal(await page.isVisible('#error'), false);
    await page.waitForFunction(() => /Model: /.test(document.getElementById('model')!.textContent ?? ''));
    const shot = await page.screenshot({ fullPage: true });
    await writeFile(join(OUT, 'demo-page.png'), shot);
    // The docs' copy is committed: written when missing or asked for, not churned by every test run.
    const docsShot = join(ROOT, 'docs/demo-page.png');
    if (!existsSync(docsShot) || process.env.UPDATE_SCREENSHOTS === '1') {
      await mkdir(join(ROOT, 'docs'), { recursive: true });
      await copyFile(join(OUT, 'demo-page.png'), docsShot);
    }

    const bad = join(tmpdir(), `not-an-image-${process.pid}.png`);
    await writeFile(bad, 'this is text, not a picture');
    await page.setInputFiles('#file', bad);
    await page.waitForSelector('#error', { state: 'visible' });
    const error = await page.textContent('#error');
    assert.match(error ?? '', /Not a supported image type/);
    assert.match(error ?? '', /UNSUPPORTED_MEDIA_TYPE, HTTP 415/);
    assert.equal(await page.locator('#predictions .prediction').count(), 0, 'the old predictions are cleared');
    await page.screenshot({ path: join(OUT, 'demo-page-error.png'), fullPage: true });
    assert.deepEqual(pageErrors, []);
    await page.close();
  });
});
