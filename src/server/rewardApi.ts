// The reward-attribution answers of the JSON API (saelab attribute runs in the workspace database):
//   GET /api/attributions        runs, newest first: id, when, mode, name
//   GET /api/attributions/:id    the run's whole report (attribution.json)
// A workspace without the tables (older, or no attribution yet) answers an empty list.

import { listAttributionRuns, readAttributionReport } from '../analysis/rewardDb.js';
import { HttpError } from './http.js';
import type { WorkspaceReader } from './workspaceApi.js';

/** The answer for /api/attributions[/:id]; `id` is the parsed id segment or undefined. */
export function attributionsApi(reader: WorkspaceReader, id: string | undefined, extra: string | undefined): unknown {
  if (extra !== undefined) throw new HttpError(404, 'no such API path');
  const has = reader.has('attribution_reports');
  if (id === undefined) return { runs: has ? listAttributionRuns(reader.ws) : [] };
  if (!/^\d{1,15}$/.test(id)) throw new HttpError(404, `no such id '${id}'`);
  const r = has ? readAttributionReport(reader.ws, Number(id)) : null;
  if (!r) throw new HttpError(404, `no attribution run ${id}`);
  return r.report;
}
