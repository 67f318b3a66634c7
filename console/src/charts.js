/**
 * A function's last hour, drawn from its requests: invocations and errors per minute, and the
 * p50 and p99 of their durations per minute, as plain SVG bars and lines.
 */
import { html } from './ui.js';

const MINUTES = 60;

/** Per minute of the last hour: counts, errors and duration percentiles. */
export function lastHour(requests, now = Date.now()) {
  const start = now - MINUTES * 60_000;
  const minutes = Array.from({ length: MINUTES }, () => ({ count: 0, errors: 0, durations: [] }));
  for (const request of requests) {
    const at = Date.parse(request.created_at);
    if (!(at >= start && at <= now)) continue;
    const minute = minutes[Math.min(MINUTES - 1, Math.floor((at - start) / 60_000))];
    minute.count += 1;
    if (request.status === 'failed' || request.status === 'timeout') minute.errors += 1;
    if (typeof request.duration_ms === 'number') minute.durations.push(request.duration_ms);
  }
  return minutes.map(({ count, errors, durations }) => {
    durations.sort((a, b) => a - b);
    const pick = (q) => (durations.length === 0 ? null : durations[Math.min(durations.length - 1, Math.ceil(q * durations.length) - 1)]);
    return { count, errors, p50: pick(0.5), p99: pick(0.99) };
  });
}

function Bars({ title, series, unit }) {
  const width = 360;
  const height = 80;
  const max = Math.max(1, ...series.flatMap((s) => s.values.map((v) => v ?? 0)));
  const step = width / MINUTES;
  const summary = series.map((s) => `${s.name}: ${s.values.reduce((a, v) => a + (v ?? 0), 0)}`).join(', ');
  return html`<figure class="chart">
    <figcaption>${title} <span class="muted">(max ${max}${unit})</span></figcaption>
    <svg viewBox="0 0 ${width} ${height}" width=${width} height=${height} role="img" aria-label=${`${title}, last hour. ${summary}`}>
      ${series.map((s, index) => s.values.map((v, minute) => (v ? html`<rect class=${s.className} x=${minute * step + index * (step / series.length)} y=${height - (v / max) * height} width=${step / series.length - 0.5} height=${(v / max) * height}></rect>` : null)))}
    </svg>
  </figure>`;
}

export function FunctionCharts({ requests }) {
  const minutes = lastHour(requests);
  return html`<div class="charts">
    <${Bars} title="Invocations and errors per minute" unit="" series=${[
      { name: 'invocations', className: 'bar-count', values: minutes.map((m) => m.count) },
      { name: 'errors', className: 'bar-error', values: minutes.map((m) => m.errors) },
    ]} />
    <${Bars} title="Duration p50 and p99 per minute" unit=" ms" series=${[
      { name: 'p50', className: 'bar-count', values: minutes.map((m) => m.p50) },
      { name: 'p99', className: 'bar-error', values: minutes.map((m) => m.p99) },
    ]} />
  </div>`;
}
