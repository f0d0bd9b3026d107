import { existsSync, writeFileSync } from 'node:fs';
import { UsageError } from '../core/usage-error.js';

/** Debian's Chromium, the browser the PDF is printed with (never a downloaded one). */
export const CHROMIUM = '/usr/bin/chromium';

/** How long Chromium may take to start, lay out and print. */
const PRINT_TIMEOUT_MS = 120_000;

/**
 * Print an HTML page to a PDF file with headless Chromium (playwright-core drives it): A4, backgrounds printed,
 * page numbers in the footer. Every network request is refused: the page must print from itself alone.
 */
export async function printPdf(
  html: string,
  out: string,
  options: { chromium?: string; footer?: string } = {},
): Promise<void> {
  const executablePath = options.chromium ?? process.env.REACHGATE_CHROMIUM ?? CHROMIUM;
  if (!existsSync(executablePath))
    throw new UsageError(
      `cannot print the PDF: no Chromium at ${executablePath}`,
      "Install Debian's chromium (apt-get install chromium), or set REACHGATE_CHROMIUM to its path.",
    );
  let playwright: typeof import('playwright-core');
  try {
    // Loaded only here: the one command that prints a PDF pays for it.
    playwright = await import('playwright-core');
  } catch {
    throw new UsageError(
      'cannot print the PDF: the playwright-core package is not installed (npm install playwright-core)',
    );
  }
  const browser = await playwright.chromium
    .launch({
      executablePath,
      headless: true,
      timeout: PRINT_TIMEOUT_MS,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-quic',
      ],
    })
    .catch((error: unknown) => {
      throw new UsageError(`cannot start Chromium at ${executablePath}: ${(error as Error).message.split('\n')[0]}`);
    });
  try {
    const context = await browser.newContext({ offline: true, javaScriptEnabled: false });
    await context.route('**/*', (route) => route.abort('blockedbyclient'));
    const page = await context.newPage();
    page.setDefaultTimeout(PRINT_TIMEOUT_MS);
    await page.setContent(html, { waitUntil: 'load' });
    const pdf = await page.pdf({
      format: 'A4',
      printBackground: true,
      preferCSSPageSize: true,
      displayHeaderFooter: true,
      headerTemplate: '<span></span>',
      footerTemplate:
        '<div style="font-size:7pt;width:100%;text-align:center;font-family:sans-serif">' +
        `${escapeFooter(options.footer ?? '')} page <span class="pageNumber"></span> of <span class="totalPages"></span></div>`,
    });
    writeFileSync(out, pdf);
  } finally {
    await browser.close();
  }
}

function escapeFooter(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}
