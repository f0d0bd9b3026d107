import { writeFileSync } from 'node:fs';
import { UsageError } from '../core/usage-error.js';
import type { SignedRecord } from '../record/model.js';
import type { Verification } from '../record/sign.js';
import { renderRecordHtml } from '../record/html.js';

/** `--html FILE` and `--pdf FILE`, as `accept` and `verify` take them. */
export function renderOptions() {
  return {
    html: {
      type: 'string',
      requiresArg: true,
      describe: 'Also write the record as one self-contained HTML page',
      group: 'Output:',
    },
    pdf: {
      type: 'string',
      requiresArg: true,
      describe: "Also print the record to a PDF (Debian's chromium, no network)",
      group: 'Output:',
    },
  } as const;
}

/** Write the HTML page and print the PDF that were asked for. */
export async function writeRenderings(
  signed: SignedRecord,
  verification: Verification,
  files: { html?: string | undefined; pdf?: string | undefined },
): Promise<void> {
  if (files.html === undefined && files.pdf === undefined) return;
  const html = renderRecordHtml(signed, verification);
  if (files.html !== undefined) {
    try {
      writeFileSync(files.html, html);
    } catch (error) {
      throw new UsageError(`cannot write ${files.html}: ${(error as NodeJS.ErrnoException).code ?? error}`);
    }
  }
  if (files.pdf !== undefined) {
    // playwright-core is loaded only when a PDF is asked for.
    const { printPdf } = await import('../record/pdf.js');
    await printPdf(html, files.pdf, {
      footer: `reachgate acceptance record ${signed.record.site ?? ''} ${signed.record.change}, digest ${verification.short_digest}`,
    });
  }
}
