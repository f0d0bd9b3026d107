import type { LatestReport, Matrix } from '../core/matrix.js';
import { fetchMatrix, fetchReports, type MatrixSource } from '../coordinator/client.js';
import { readReport } from '../coordinator/matrix-files.js';
import { buildMatrix } from '../coordinator/matrix.js';

/** What a record is made of: the judged matrix and every agent's latest report whole. */
export interface RecordInputs {
  matrix: Matrix;
  reports: LatestReport[];
}

/** The matrix and each agent's latest report from a coordinator, read with a viewer token. */
export async function inputsFromCoordinator(source: MatrixSource): Promise<RecordInputs> {
  const matrix = await fetchMatrix(source);
  const reports = await fetchReports(
    source,
    matrix.agents.map((agent) => agent.report_id),
  );
  return { matrix, reports };
}

/** The matrix built offline from RunReport files (each agent's newest counts), as `reachgate matrix --reports` does. */
export function inputsFromFiles(files: readonly string[], now: Date): RecordInputs {
  const reports = files.map(readReport);
  return { matrix: buildMatrix(reports, { now }), reports };
}
