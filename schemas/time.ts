/**
 * Kubernetes timestamps: RFC 3339 in UTC with whole seconds (`2026-12-01T12:00:00Z`), as
 * metav1.Time serializes. The one place that formats them; every layer calls this.
 */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
