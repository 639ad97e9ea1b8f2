// A backend whose model is still loading: the server listens (and /health answers "loading") from
// the start, and requests are served once the model is ready.
import type { Backend, BundleSummary, CompletionJob, CompletionStream, PromptReuse } from "./backend.js";

export class PendingBackend implements Backend {
  private inner: Backend | undefined;
  private readonly loading: Promise<Backend>;

  constructor(
    readonly modelId: string,
    readonly parallel: number,
    loading: Promise<Backend>,
  ) {
    this.loading = loading;
    loading.then(
      (b) => {
        this.inner = b;
      },
      () => {}, // the caller awaits `loaded` and reports the failure
    );
  }

  /** Resolves with the loaded backend (or rejects with why it could not load). */
  get loaded(): Promise<Backend> {
    return this.loading;
  }

  get ready(): boolean {
    return this.inner !== undefined;
  }

  get active(): number {
    return this.inner?.active ?? 0;
  }

  get waiting(): number {
    return this.inner?.waiting ?? 0;
  }

  get promptReuse(): PromptReuse {
    return this.inner?.promptReuse ?? { slot: 0, host: 0, cacheBytes: 0 };
  }

  /** The app checks `ready` before calling these; a call while loading waits for the model. */
  async complete(job: CompletionJob): Promise<CompletionStream> {
    return (this.inner ?? (await this.loading)).complete(job);
  }

  bundles(): BundleSummary[] {
    return this.inner?.bundles() ?? [];
  }

  async reloadBundle(name: string): Promise<BundleSummary> {
    return (this.inner ?? (await this.loading)).reloadBundle(name);
  }

  async close(): Promise<void> {
    const b = this.inner ?? (await this.loading.catch(() => undefined));
    await b?.close();
  }
}
