/** Printing benchmark figures: progress to stderr, the result table (or JSON) to stdout. */

export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  detail: string;
}

export function progress(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

export function formatRate(r: BenchResult): string {
  const v = r.value >= 100 ? Math.round(r.value).toLocaleString("en-US") : r.value.toFixed(1);
  return `${v} ${r.unit}`;
}

export function printTable(title: string, results: BenchResult[]): void {
  const w = Math.max(...results.map((r) => r.name.length));
  const vw = Math.max(...results.map((r) => formatRate(r).length));
  process.stdout.write(`\n${title}\n`);
  for (const r of results) {
    process.stdout.write(`  ${r.name.padEnd(w)}  ${formatRate(r).padStart(vw)}   (${r.detail})\n`);
  }
}
