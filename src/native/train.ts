// Fine-tuning through llama.cpp's training API (llama_opt_*), as its finetune example does:
// writable weights, exact context (F32 K/V), one warm-up decode, a dataset of n_ctx-token windows
// with next-token labels, AdamW with constant parameters.
import { EngineError } from "../engine/errors.js";
import { ctypes, koffi } from "./library.js";
import { engineNative, NativeContext, NativeModel } from "./llama.js";

const GGML_TYPE_I32 = 26;

export interface FinetuneOptions {
  /** Tokens per training window (rounded up to a multiple of 256 by llama.cpp). */
  nCtx: number;
  /** Window stride through the token stream (default nCtx / 2). */
  stride?: number;
  epochs: number;
  /** AdamW learning rate: a constant, or per epoch (1-based) for a schedule. */
  learningRate: number | ((epoch: number) => number);
  weightDecay?: number;
  /** Share of windows used for validation (the last ones). */
  valSplit: number;
  threads: number;
  signal?: AbortSignal;
  onBatch?: (train: boolean, batch: number, batches: number) => void;
  onEpoch?: (epoch: number, trainLoss: number, valLoss: number) => void;
}

export interface FinetuneResult {
  epochs: Array<{ epoch: number; trainLoss: number; valLoss: number }>;
  windows: number;
  tokensPerEpoch: number;
  seconds: number;
  stopped: boolean;
}

/** Trains all weights of the model in `modelPath` on a token stream and saves it to `outPath`. */
export async function finetune(modelPath: string, tokens: Int32Array, outPath: string, o: FinetuneOptions): Promise<FinetuneResult> {
  const n = engineNative();
  const model = NativeModel.load(modelPath, { noMmap: true, useExtraBufts: false });
  const ctx = new NativeContext(model, { nCtx: o.nCtx, nBatch: o.nCtx, nUbatch: o.nCtx, nSeqMax: 1, nThreads: o.threads, exact: true });
  const nCtx = ctx.nCtx;
  const stride = o.stride ?? Math.max(1, Math.floor(nCtx / 2));
  const windows = Math.floor((tokens.length - nCtx - 1) / stride) + 1;
  if (windows < 2) {
    model.free();
    throw new EngineError(
      "bad_argument",
      `the training data has ${tokens.length} tokens: at least ${nCtx + stride + 1} are needed for two windows of ${nCtx}.`,
    );
  }
  const callbacks: unknown[] = [];
  const ds = n.ggml_opt_dataset_init(GGML_TYPE_I32, GGML_TYPE_I32, nCtx, nCtx, windows, 1);
  const optPars = koffi.alloc("float", 7);
  const t0 = performance.now();
  try {
    // only llama_decode sets the CPU thread count: without this warm-up, training runs far slower
    await ctx.decode({ tokens: [tokens[0] as number], positions: [0], seqIds: [0], outputs: [1] });
    ctx.clearMemory();
    const data = new Int32Array(windows * nCtx);
    const labels = new Int32Array(windows * nCtx);
    for (let w = 0; w < windows; w++) {
      data.set(tokens.subarray(w * stride, w * stride + nCtx), w * nCtx);
      labels.set(tokens.subarray(w * stride + 1, w * stride + nCtx + 1), w * nCtx);
    }
    n.ggml_backend_tensor_set(n.ggml_opt_dataset_data(ds), data, 0, data.byteLength);
    n.ggml_backend_tensor_set(n.ggml_opt_dataset_labels(ds), labels, 0, labels.byteLength);
    // ggml_opt_optimizer_params: AdamW alpha, beta1, beta2, eps, wd; SGD alpha, wd
    // llama.cpp reads these through the pointer before every batch, so the schedule is set per epoch
    const pars = new Float32Array(koffi.view(optPars, 28));
    const lrAt = (epoch: number) => (typeof o.learningRate === "number" ? o.learningRate : o.learningRate(epoch));
    pars.set([lrAt(1), 0.9, 0.999, 1e-8, o.weightDecay ?? 0, lrAt(1), 0]);
    n.llama_opt_init(ctx.ptr, model.ptr, {
      n_ctx_train: 0,
      param_filter: n.addressOf("llama_opt_param_filter_all"),
      param_filter_ud: null,
      get_opt_pars: n.addressOf("ggml_opt_get_constant_optimizer_params"),
      get_opt_pars_ud: optPars,
      optimizer_type: 0,
    });
    const cb = (train: boolean) =>
      koffi.register(
        (_t: boolean, _opt: unknown, _ds: unknown, _r: unknown, ibatch: number | bigint, nb: number | bigint) =>
          o.onBatch?.(train, Number(ibatch), Number(nb)),
        koffi.pointer(ctypes().OptEpochCallback),
      );
    const cbTrain = cb(true);
    const cbEval = cb(false);
    callbacks.push(cbTrain, cbEval);
    const split = Math.max(1, Math.min(windows - 1, Math.floor(windows * (1 - o.valSplit))));
    const epochs: FinetuneResult["epochs"] = [];
    let stopped = false;
    for (let e = 0; e < o.epochs; e++) {
      if (o.signal?.aborted) {
        stopped = true;
        break;
      }
      pars[0] = lrAt(e + 1);
      pars[5] = pars[0] as number;
      const rTrain = n.ggml_opt_result_init();
      const rEval = n.ggml_opt_result_init();
      await new Promise<void>((resolve, reject) =>
        n.llama_opt_epoch.async(ctx.ptr, ds, rTrain, rEval, split, cbTrain, cbEval, (err: unknown) => (err ? reject(err) : resolve())),
      );
      const loss = (r: unknown) => {
        const l = new Float64Array(1);
        const u = new Float64Array(1);
        n.ggml_opt_result_loss(r, l, u);
        return l[0] as number;
      };
      const rec = { epoch: e + 1, trainLoss: loss(rTrain), valLoss: loss(rEval) };
      n.ggml_opt_result_free(rTrain);
      n.ggml_opt_result_free(rEval);
      epochs.push(rec);
      o.onEpoch?.(rec.epoch, rec.trainLoss, rec.valLoss);
    }
    if (!stopped) model.save(outPath);
    return { epochs, windows, tokensPerEpoch: split * nCtx, seconds: (performance.now() - t0) / 1000, stopped };
  } finally {
    n.ggml_opt_dataset_free(ds);
    koffi.free(optPars);
    ctx.free();
    model.free();
    for (const c of callbacks) koffi.unregister(c as bigint);
  }
}
