// A progress bar with ETA on stderr, and Ctrl-C turned into an AbortSignal for long work.
import cliProgress from "cli-progress";

export interface Progress {
  update(done: number, total: number, tokens?: number): void;
  stop(): void;
}

export function progressBar(label: string): Progress {
  if (!process.stderr.isTTY) {
    // no terminal (CI, pipes): a line every 10%
    let next = 0;
    return {
      update(done, total) {
        if (done / total >= next) {
          process.stderr.write(`${label}: ${done}/${total}\n`);
          next = Math.floor((done / total) * 10 + 1) / 10;
        }
      },
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {value}/{total} | {tokens} tokens | ETA {eta_formatted}`, hideCursor: true, stream: process.stderr },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(done, total, tokens = 0) {
      if (!started) {
        bar.start(total, 0, { tokens: 0 });
        started = true;
      }
      bar.update(done, { tokens });
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

/** An AbortSignal that fires on the first Ctrl-C; a second Ctrl-C exits at once. */
export function interruptSignal(): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  const onSig = () => {
    if (ac.signal.aborted) process.exit(130);
    process.stderr.write("\nstopping (Ctrl-C again to quit now)...\n");
    ac.abort();
  };
  process.on("SIGINT", onSig);
  return { signal: ac.signal, dispose: () => process.off("SIGINT", onSig) };
}
