/**
 * Counters, histograms and gauges in the Prometheus text exposition format (version 0.0.4),
 * made for a hot path: a caller resolves a label set to its series once and keeps it, and from
 * then on `inc()` is an add and `observe()` a bucket search. prom-client's children re-hash and
 * re-validate their labels on every call, which the API bench measured at a quarter of a GET's
 * rate; this file is the little of it ferry needs. Here on the ground floor because both the
 * control plane (functions/metrics/families.ts) and the agent (agent/metrics-endpoint.ts) write
 * the format, and the agent imports nothing of the control plane.
 * https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
 */

type Values = readonly string[];

abstract class Family<S> {
  protected readonly series = new Map<string, { values: Values; s: S }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {}

  /** The series of one label set (values in `labelNames` order), made on first use. */
  get(...values: string[]): S {
    const key = values.join('\u0000');
    let found = this.series.get(key);
    if (!found) {
      if (values.length !== this.labelNames.length)
        throw new Error(`${this.name}: ${values.length} label values for ${this.labelNames.length} labels`);
      found = { values, s: this.make() };
      this.series.set(key, found);
    }
    return found.s;
  }

  protected abstract make(): S;
  abstract render(): string;

  protected head(type: string): string {
    return `# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} ${type}\n`;
  }

  protected labels(values: Values, extra = ''): string {
    const pairs = this.labelNames.map((n, i) => `${n}="${escapeLabel(values[i] as string)}"`);
    if (extra) pairs.push(extra);
    return pairs.length ? `{${pairs.join(',')}}` : '';
  }
}

export class CounterSeries {
  value = 0;
  inc(by = 1): void {
    this.value += by;
  }
}

export class Counter extends Family<CounterSeries> {
  protected make(): CounterSeries {
    return new CounterSeries();
  }

  render(): string {
    let out = this.head('counter');
    for (const { values, s } of this.series.values()) out += `${this.name}${this.labels(values)} ${num(s.value)}\n`;
    return out;
  }
}

export class HistogramSeries {
  /** Per bucket (not cumulative: summed at render), the last one +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > (this.bounds[i] as number)) i++;
    this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += value;
    this.count++;
  }
}

export class Histogram extends Family<HistogramSeries> {
  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    readonly bounds: readonly number[],
  ) {
    super(name, help, labelNames);
  }

  protected make(): HistogramSeries {
    return new HistogramSeries(this.bounds);
  }

  render(): string {
    let out = this.head('histogram');
    for (const { values, s } of this.series.values()) {
      let cumulative = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        cumulative += s.counts[i] as number;
        const le = i < this.bounds.length ? num(this.bounds[i] as number) : '+Inf';
        out += `${this.name}_bucket${this.labels(values, `le="${le}"`)} ${num(cumulative)}\n`;
      }
      out += `${this.name}_sum${this.labels(values)} ${num(s.sum)}\n`;
      out += `${this.name}_count${this.labels(values)} ${num(s.count)}\n`;
    }
    return out;
  }
}

/** The format's escapes in a label value: backslash, double quote, line feed. */
export function escapeLabel(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}

/** A gauge family from values known at render time, one sample per label value (or one without labels). */
export function gaugeText(name: string, help: string, samples: Iterable<[string, number]>, labelName?: string): string {
  let out = `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} gauge\n`;
  for (const [value, n] of samples)
    out += labelName ? `${name}{${labelName}="${escapeLabel(value)}"} ${num(n)}\n` : `${name} ${num(n)}\n`;
  return out;
}

function escapeHelp(help: string): string {
  return help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function num(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Number.POSITIVE_INFINITY) return '+Inf';
  if (n === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(n);
}
