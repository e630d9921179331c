/** ferry's version, reported by /version and the CLI. */
export const VERSION = '0.1.0';
