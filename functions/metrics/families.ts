/**
 * The control plane's metric families: the exposition's counters and histograms
 * (schemas/prom-text.ts, shared with the agent), and a gauge whose values are read at scrape time.
 */
import { gaugeText } from '../../schemas/prom-text';

export { Counter, CounterSeries, escapeLabel, Histogram, HistogramSeries } from '../../schemas/prom-text';

/** A gauge whose values are read at scrape time: `read` returns every label set's value. */
export class Gauge {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelName: string,
    private readonly read: () => Promise<Map<string, number>>,
  ) {}

  async render(): Promise<string> {
    return gaugeText(this.name, this.help, await this.read(), this.labelName);
  }
}
