/**
 * CSV text to an arquero table with column types inferred from every row. arquero's default looks at the
 * first 1000 values only: a sweep's results.csv often starts with method full's rows, whose budget,
 * clusters and denseLayers are empty, and those columns then come back boolean. autoMax is the row count,
 * not a huge number: arquero's type check loops up to autoMax.
 */
import * as aq from 'arquero';

export function csvTable(text: string): aq.ColumnTable {
  let lines = 1;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lines++;
  return aq.fromCSV(text, { autoMax: lines });
}
