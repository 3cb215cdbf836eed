import type { DemoEvaluation } from '../demo/index.js';
import { printTable } from './table.js';

const pct = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? 'n/a' : `${(100 * v).toFixed(1)}%`);

/** A demo model's held-out scores as a table (sds evaluate-demo, and after each model of sds train-demo). */
export function printEvaluation(r: DemoEvaluation): void {
  process.stdout.write(`\n${r.name}: ${r.patches} held-out patch${r.patches === 1 ? '' : 'es'} of ${r.patch} px (scenes never trained on), ${r.seconds.toFixed(0)} s\n`);
  const rows: string[][] =
    r.kind === 'classifier'
      ? [
          ['accuracy (normal vs tumour)', `${pct(r.accuracy)} (${r.correct}/${r.patches})`],
          ['normal: right / called tumour', `${r.confusion![0]![0]} / ${r.confusion![0]![1]}`],
          ['tumour: right / called normal', `${r.confusion![1]![1]} / ${r.confusion![1]![0]}`],
        ]
      : [...Object.entries(r.dice!).map(([c, d]) => [`Dice ${c}`, d.toFixed(3)]), ['pixel accuracy', pct(r.pixelAccuracy)]];
  if (r.surrogateAgreement !== undefined) rows.push([r.kind === 'classifier' ? 'surrogate: top-1 agreement' : 'surrogate: pixel agreement', pct(r.surrogateAgreement)]);
  printTable(['measure', 'value'], rows);
}
