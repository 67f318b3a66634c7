/** The bench's figures: one table on the terminal, the same as JSON with targets and whether they were met. */
import { writeFileSync } from 'node:fs';
import Table from 'cli-table3';

export interface Target {
  /** What is compared with the limit: the figure itself, or its ratio to the baseline. */
  of: 'value' | 'ratio';
  op: '<=' | '>=';
  limit: number;
}

export interface Figure {
  name: string;
  /** NaN when not measured (see `note`). */
  value: number;
  unit: string;
  baseline?: { name: string; value: number };
  target?: Target;
  note?: string;
}

export interface Run {
  timestamp: string;
  machine: Record<string, string | number>;
  versions: Record<string, string>;
  settings: Record<string, string | number>;
  figures: Figure[];
}

const ratioOf = (figure: Figure): number | undefined => (figure.baseline && Number.isFinite(figure.value) ? figure.value / figure.baseline.value : undefined);

function met(figure: Figure): boolean | undefined {
  const { target } = figure;
  const measured = target?.of === 'ratio' ? ratioOf(figure) : figure.value;
  if (target === undefined || measured === undefined || !Number.isFinite(measured)) return undefined;
  return target.op === '<=' ? measured <= target.limit : measured >= target.limit;
}

const number = (value: number): string => (!Number.isFinite(value) ? '—' : value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2));
const targetText = (figure: Figure): string => {
  const { target } = figure;
  if (target === undefined) return '';
  return `${target.op === '<=' ? '≤' : '≥'} ${target.of === 'ratio' ? `${target.limit}×` : `${number(target.limit)} ${figure.unit}`}`;
};

/** The table printed at the end of a run. */
export function table(run: Run): string {
  const rows = new Table({ head: ['figure', 'value', 'baseline (same run)', 'ratio', 'target', 'met'], style: { head: [], border: [] } });
  for (const figure of run.figures) {
    const ratio = ratioOf(figure);
    const verdict = met(figure);
    rows.push([
      figure.name,
      Number.isFinite(figure.value) ? `${number(figure.value)} ${figure.unit}` : (figure.note ?? 'not measured'),
      figure.baseline ? `${number(figure.baseline.value)} ${figure.unit} (${figure.baseline.name})` : '—',
      ratio === undefined ? '—' : `${number(ratio)}×`,
      targetText(figure),
      verdict === undefined ? '' : verdict ? 'yes' : 'NO',
    ]);
  }
  const heading = [
    `Pratai bench, ${run.timestamp}`,
    `machine: ${Object.entries(run.machine).map(([key, value]) => `${key} ${value}`).join(', ')}`,
    `versions: ${Object.entries(run.versions).map(([key, value]) => `${key} ${value}`).join(', ')}`,
    `settings: ${Object.entries(run.settings).map(([key, value]) => `${key}=${value}`).join(', ')}`,
  ];
  const notes = run.figures.filter((figure) => figure.note && Number.isFinite(figure.value)).map((figure) => `- ${figure.name}: ${figure.note}`);
  return [...heading, rows.toString(), ...notes].join('\n');
}

/** The same figures as JSON, each with its ratio, its target and whether it was met. */
export function writeJson(run: Run, path: string): void {
  const figures = run.figures.map((figure) => ({
    ...figure,
    value: Number.isFinite(figure.value) ? figure.value : null,
    ratio: ratioOf(figure) ?? null,
    target: figure.target ? { ...figure.target, text: targetText(figure) } : null,
    met: met(figure) ?? null,
  }));
  writeFileSync(path, `${JSON.stringify({ ...run, figures }, null, 2)}\n`);
}
