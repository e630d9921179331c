/** The agent's logger: JSON lines on stderr. Tokens are never passed to it. */
export interface AgentLogger {
  debug(msg: string, fields: Record<string, unknown>): void;
  info(msg: string, fields: Record<string, unknown>): void;
  warn(msg: string, fields: Record<string, unknown>): void;
  error(msg: string, fields: Record<string, unknown>): void;
}

const ORDER = ['debug', 'info', 'warn', 'error'] as const;

export function createAgentLogger(level: (typeof ORDER)[number], base: Record<string, unknown> = {}): AgentLogger {
  const min = ORDER.indexOf(level);
  const at = (lvl: (typeof ORDER)[number]) => (msg: string, fields: Record<string, unknown>) => {
    if (ORDER.indexOf(lvl) < min) return;
    process.stderr.write(
      `${JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...base, ...fields })}\n`,
    );
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
