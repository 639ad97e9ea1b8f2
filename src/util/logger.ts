/** Process-wide logger: quiet by default (warnings and errors only), everything with verbose. */
export type Verbosity = "quiet" | "verbose";

let verbosity: Verbosity = "quiet";

export function setVerbosity(v: Verbosity): void {
  verbosity = v;
}

export const log = {
  debug(msg: string): void {
    if (verbosity === "verbose") process.stderr.write(`[debug] ${msg.endsWith("\n") ? msg : `${msg}\n`}`);
  },
  info(msg: string): void {
    if (verbosity === "verbose") process.stderr.write(msg.endsWith("\n") ? msg : `${msg}\n`);
  },
  warn(msg: string): void {
    process.stderr.write(`warning: ${msg.endsWith("\n") ? msg : `${msg}\n`}`);
  },
};
