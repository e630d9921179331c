/** The end of a container's output: its last `tailLines` lines, at most `limitBytes` (whole UTF-8 characters). */
export function tailOf(output: Buffer | string, options: { tailLines: number; limitBytes: number }): string {
  const lines = (typeof output === 'string' ? output : output.toString('utf8')).split(/(?<=\n)/);
  const buf = Buffer.from(lines.slice(Math.max(0, lines.length - options.tailLines)).join(''), 'utf8');
  let start = Math.max(0, buf.length - options.limitBytes);
  while (start < buf.length && ((buf[start] as number) & 0xc0) === 0x80) start++;
  return buf.subarray(start).toString('utf8');
}
