// s2s.mjs: an s2s-onnx bundle's fused graphs (greedy.onnx, beam.onnx) in the browser (onnxruntime-web) and in
// Node (onnxruntime-node), decoding exactly what the Python runtime decodes. No other dependency.
//
//   import { load } from "./s2s.mjs";
//   const model = await load("./model/");          // a bundle folder: a URL, or in Node a path
//   await model.translate("March 3rd, 2021");      // one text in, one string out; a list in, a list out
//   await model.decode(["14 Jul 1989"], { beam_size: 4, num_return: 2 });  // results as the HTTP API's
//
// Options have the Python runtime's names and limits (max_length, unknown, truncate, allow_empty, batch_size,
// beam_size, num_return, length_penalty); errors have its class names and messages.
import {
  BundleFormatError, EmptyInputError, InputTooLongError, InvalidOptionError, OptionTypeError, S2SError, Vocabulary,
  pyRepr,
} from "./s2s-text.mjs";

export {
  BundleFormatError, EmptyInputError, InputTooLongError, InvalidOptionError, OptionTypeError, S2SError,
  UnknownCharacterError,
} from "./s2s-text.mjs";

export const ORT_VERSION = "1.30.0"; // the onnxruntime-web and onnxruntime-node this file was tested with
const FORMAT_VERSIONS = [1, 2, 3];
const LIMITS = {
  max_length: 10_000, batch_size: 4096, beam_size: 64, num_return: 64, length_penalty: 10,
  decode_bytes: 512 * 2 ** 20, config_bytes: 16 * 2 ** 20, onnx_bytes: 2 ** 31,
};
export const DEFAULTS = Object.freeze({
  max_length: null, unknown: "error", truncate: false, strategy: "auto", batch_size: 32, allow_empty: false,
  beam_size: 1, num_return: 1, length_penalty: 0, sampling: false,
});
const IS_NODE = typeof process !== "undefined" && !!process.versions?.node && typeof window === "undefined";
const CHECKED = 4; // stored Keras decodes checked at load, as the Python runtime checks them

export class DecodeLimitError extends S2SError {}

/** Load a bundle folder (`url`: a URL, or in Node a path or file: URL). `ort`: the onnxruntime module to use
 * (default: onnxruntime-node in Node, ./ort/ort.wasm.min.mjs beside this file in a browser); `threads`: intra-op
 * threads (default 1); `verify`: first reproduce the Keras decodes stored in the bundle's reference.json. */
export async function load(url, { ort = null, threads = 1, verify = true } = {}) {
  checkInt("threads", threads, 1024);
  const runtime = ort ?? (await defaultRuntime(threads));
  const base = bundleBase(url);
  const config = parseConfig(await readJson(base, "config.json", LIMITS.config_bytes), `${base}config.json`);
  const vocabulary = Vocabulary.fromConfig(config, `${base}config.json`);
  if (!config.fused) {
    throw new BundleFormatError(`${base}: the bundle has no fused graphs (greedy.onnx); convert the model with ` +
      "'s2s-onnx convert MODEL -o BUNDLE --fused'");
  }
  const options = sessionOptions(threads);
  const greedy = await openGraph(runtime, base, "greedy.onnx", options, GREEDY_INPUTS);
  const beam = config.beam ? await openGraph(runtime, base, "beam.onnx", options, BEAM_INPUTS) : null;
  const model = new Seq2SeqModel(runtime, config, vocabulary, greedy, beam, base);
  if (verify) await model.checkReference(await readJson(base, "reference.json", LIMITS.config_bytes, true));
  return model;
}

const GREEDY_INPUTS = ["encoder_inputs", "max_length", "stop_at_end"];
const BEAM_INPUTS = ["encoder_inputs", "max_length", "beam_size", "length_penalty"];

export class Seq2SeqModel {
  constructor(ort, config, vocabulary, greedy, beam, base) {
    Object.assign(this, { ort, config, vocabulary, greedy, beam, path: base });
    this.ids = config.model?.input === "ids";
    this.queue = Promise.resolve(); // one run at a time: a session is not re-entrant in onnxruntime-web
  }

  /** One text -> its translation (a string); a list of texts -> a list. Options as decode(). */
  async translate(texts, options = {}) {
    const results = await this.decode(texts, options);
    return Array.isArray(results) ? results.map((r) => r.text) : results.text;
  }

  /** One text -> one result, a list -> a list: {text, token_ids, probabilities, stop_reason, unknown_tokens},
   * with score and n_best for a beam search, as the HTTP API answers with "details": true. */
  async decode(texts, options = {}) {
    const opts = resolveOptions(options);
    const items = asTexts(texts);
    const limit = this.plan(opts, items.length);
    const rows = items.map((text) => this.vocabulary.sourceIds(this.vocabulary.clean(text, opts)));
    const results = await this.decodeRows(rows, opts, limit);
    items.forEach((text, i) => { results[i].unknown_tokens = this.unknownTokens(text, opts); });
    return typeof texts === "string" ? results[0] : results;
  }

  /** Input token ids (one list, or a list of lists) -> results, for applications with their own tokenizer. */
  async decodeIds(ids, options = {}) {
    const opts = resolveOptions(options);
    const single = Array.isArray(ids) && (ids.length === 0 || !Array.isArray(ids[0]));
    const rows = checkIdRows(single ? [ids] : ids, this.vocabulary, opts);
    const results = await this.decodeRows(rows, opts, this.plan(opts, rows.length));
    return single ? results[0] : results;
  }

  /** Most tokens a decode generates: max_length, else the author's loop's cap, else the Keras example's. */
  maxLength(opts = DEFAULTS) {
    const loop = this.vocabulary.loop;
    return opts.max_length ?? loop.max_length ?? this.vocabulary.maxDecoderLen + 1;
  }

  unknownTokens(text, opts) {
    if (opts.unknown === "error" && this.vocabulary.text.oov_token == null) return 0;
    return this.vocabulary.unknownCount(text);
  }

  /** The cap of a decode of `count` inputs with `opts`, after the checks the Python runtime makes first. */
  plan(opts, count) {
    const searches = opts.beam_size > 1 || opts.num_return > 1;
    if (searches && !this.vocabulary.loop.stops_at_end) {
      throw new InvalidOptionError("beam search ranks hypotheses that end; this model's loop has no end token (it " +
        `always decodes ${this.maxLength(opts)} tokens), so decode greedily or by sampling`);
    }
    if (searches && !this.beam) {
      throw new InvalidOptionError(`${this.path}: the bundle has no beam.onnx; convert it again with --fused`);
    }
    const limit = this.maxLength(opts);
    this.checkMemory(Math.min(opts.batch_size, Math.max(count, 1)) * opts.beam_size, limit);
    return limit;
  }

  async decodeRows(rows, opts, limit) {
    const searches = opts.beam_size > 1 || opts.num_return > 1;
    const results = [];
    for (let start = 0; start < rows.length; start += opts.batch_size) {
      const batch = rows.slice(start, start + opts.batch_size);
      const found = await this.exclusive(() => (searches ? this.searchBatch(batch, limit, opts) :
        this.greedyBatch(batch, limit)));
      results.push(...found);
    }
    return results;
  }

  exclusive(work) {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => {});
    return run;
  }

  encoderInput(rows) {
    const v = this.vocabulary;
    const data = this.ids ? v.encodeIdRows(rows) : v.encodeOneHot(rows);
    const dims = this.ids ? [rows.length, v.maxEncoderLen] : [rows.length, v.maxEncoderLen, v.inputTokens.length];
    return new this.ort.Tensor(this.ids ? "int64" : "float32", data, dims);
  }

  scalar(type, value) {
    const data = type === "int64" ? BigInt64Array.of(BigInt(value)) : type === "bool" ? Uint8Array.of(value ? 1 : 0)
      : Float64Array.of(value);
    return new this.ort.Tensor(type, data, []);
  }

  /** Greedy-decode one batch in greedy.onnx; `endTokens`, if given, gets the token each row stopped at (the graph's
   * end token, or null), which tells whether the config's end token is the graph's. */
  async greedyBatch(rows, limit, endTokens = null) {
    const atEnd = this.vocabulary.loop.stops_at_end;
    const out = await this.greedy.run({
      encoder_inputs: this.encoderInput(rows), max_length: this.scalar("int64", limit),
      stop_at_end: this.scalar("bool", atEnd),
    });
    const [batch, steps] = out.token_ids.dims;
    const ids = out.token_ids.data, probs = out.token_probs.data, lengths = out.lengths.data;
    const results = [];
    for (let row = 0; row < batch; row++) {
      const length = atEnd ? Number(lengths[row]) : steps;
      const tokenIds = Array.from(ids.subarray(row * steps, row * steps + length), Number);
      endTokens?.push(length < steps ? Number(ids[row * steps + length]) : null);
      results.push({
        text: this.vocabulary.decodeIds(tokenIds), token_ids: tokenIds,
        probabilities: Array.from(probs.subarray(row * steps, row * steps + length)),
        stop_reason: length < steps ? "end" : "max_length", unknown_tokens: 0,
      });
    }
    return results;
  }

  async searchBatch(rows, limit, opts) {
    const out = await this.beam.run({
      encoder_inputs: this.encoderInput(rows), max_length: this.scalar("int64", limit),
      beam_size: this.scalar("int64", opts.beam_size), length_penalty: this.scalar("float64", opts.length_penalty),
    });
    return backtrack(out, this.vocabulary.endId, opts.length_penalty).map((found) => {
      const best = found[0], kept = found.slice(0, opts.num_return);
      return {
        text: this.vocabulary.decodeIds(best.token_ids), token_ids: best.token_ids,
        probabilities: best.probabilities, stop_reason: best.stop_reason, unknown_tokens: 0, score: best.score,
        n_best: kept.map((h) => ({
          text: this.vocabulary.decodeIds(h.token_ids), token_ids: h.token_ids, log_prob: h.log_prob, score: h.score,
        })),
      };
    });
  }

  checkMemory(batch, limit) {
    const v = this.vocabulary;
    const width = this.ids ? 2 : v.inputTokens.length;
    const needed = batch * (limit * (24 * v.targetTokens.length + 128) + 2 * v.maxEncoderLen * width * 4);
    if (needed > LIMITS.decode_bytes) {
      throw new DecodeLimitError(`a batch of ${batch} with max_length ${limit} would need about ` +
        `${Math.round(needed / 2 ** 20)} MiB, more than the ${LIMITS.decode_bytes / 2 ** 20} MiB a decode may use; ` +
        "lower batch_size or max_length (CLI: --batch-size, --max-length)");
    }
  }

  /** Refuse the bundle unless it reproduces the Keras decodes stored in its reference.json (as Python does). */
  async checkReference(reference) {
    const entries = (Array.isArray(reference?.decodes) ? reference.decodes : []).filter((e) =>
      typeof e?.text === "string" && Number.isInteger(e.max_length) && Array.isArray(e.token_ids) &&
      typeof e.ended === "boolean");
    const cap = this.maxLength();
    const verified = [...new Set(entries.map((e) => e.max_length))].sort((a, b) => a - b);
    if (verified.length && !verified.includes(cap)) {
      throw new BundleFormatError(`${this.path}: its default cap is ${cap} tokens but it was verified at ` +
        `[${verified.join(", ")}] (reference.json); its config was changed: re-export it`);
    }
    const lenient = { unknown: "error", truncate: true, allow_empty: true };
    for (const entry of pickReference(entries, CHECKED)) {
      let found;
      const stopped = [];
      try {
        const row = this.vocabulary.sourceIds(this.vocabulary.clean(entry.text, lenient));
        [found] = await this.exclusive(() => this.greedyBatch([row], entry.max_length, stopped));
      } catch (error) {
        if (error instanceof S2SError) throw this.refusal(entry, `its text no longer fits (${error.message})`);
        throw error;
      }
      const ended = found.stop_reason === "end";
      if (found.token_ids.join() !== entry.token_ids.join() || ended !== entry.ended) {
        throw this.refusal(entry, `it decodes [${found.token_ids.join(", ")}] (ended: ${ended})`);
      }
      if (ended && stopped[0] !== this.vocabulary.endId) {
        throw this.refusal(entry, `its graph stops at token ${stopped[0]}, which the config does not call the end ` +
          `token (it says ${this.vocabulary.endId})`);
      }
    }
  }

  refusal(entry, what) {
    return new BundleFormatError(`${this.path} does not reproduce the Keras decodes it was verified with ` +
      `(reference.json): ${pyRepr(entry.text)} at max_length ${entry.max_length} should give ` +
      `[${entry.token_ids.join(", ")}] (ended: ${entry.ended}) but ${what}; its config or files were changed: ` +
      "re-export it");
  }
}

function pickReference(entries, count) {
  const caps = [...new Set(entries.map((e) => e.max_length))].sort((a, b) => b - a);
  const perCap = Math.max(1, Math.floor(count / Math.max(caps.length, 1)));
  return caps.flatMap((cap) => entries.filter((e) => e.max_length === cap).slice(0, perCap)).slice(0, count);
}

/** Hypotheses from beam.onnx's (steps, batch, beam) outputs: each finished slot followed back through its
 * parents; per input, best first, in the order the Python runtime finds them (so that equal scores rank alike). */
export function backtrack(out, endId, lengthPenalty) {
  const [steps, batch, beams] = out.beam_tokens.dims;
  const tokens = out.beam_tokens.data, parents = out.beam_parents.data, probs = out.beam_probs.data;
  const scores = out.beam_scores.data, finished = out.beam_finished.data;
  const found = Array.from({ length: batch }, () => []);
  const at = (step, row, slot) => (step * batch + row) * beams + slot;
  for (let step = 0; step < steps; step++) {
    for (let row = 0; row < batch; row++) {
      for (let slot = 0; slot < beams; slot++) {
        if (!finished[at(step, row, slot)]) continue;
        const ids = [], chosen = [];
        for (let back = step, s = slot; back >= 0; back--) {
          ids.push(Number(tokens[at(back, row, s)]));
          chosen.push(probs[at(back, row, s)]);
          s = Number(parents[at(back, row, s)]);
        }
        ids.reverse();
        chosen.reverse();
        const ended = ids[ids.length - 1] === endId;
        const kept = ended ? ids.slice(0, -1) : ids;
        const logProb = scores[at(step, row, slot)];
        found[row].push({
          token_ids: kept, probabilities: chosen.slice(0, kept.length), log_prob: logProb,
          score: logProb / ((5 + ids.length) / 6) ** lengthPenalty, stop_reason: ended ? "end" : "max_length",
        });
      }
    }
  }
  return found.map((row) => row.sort((a, b) => b.score - a.score));
}

function resolveOptions(options) {
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw new OptionTypeError(`options must be an object of decode options, not ${pyType(options)}`);
  }
  const wrong = Object.keys(options).filter((k) => !(k in DEFAULTS)).sort();
  if (wrong.length) {
    throw new OptionTypeError(`unknown decode option(s) ${wrong.join(", ")}; valid options: ` +
      Object.keys(DEFAULTS).join(", "));
  }
  const opts = { ...DEFAULTS, ...options };
  if (opts.max_length !== null) checkInt("max_length", opts.max_length, LIMITS.max_length);
  checkInt("beam_size", opts.beam_size, LIMITS.beam_size);
  checkInt("num_return", opts.num_return, LIMITS.num_return);
  if (opts.num_return > opts.beam_size) {
    throw new InvalidOptionError(`num_return (${opts.num_return}) cannot exceed beam_size (${opts.beam_size}); ` +
      "raise beam_size (CLI: --beam)");
  }
  checkNumber("length_penalty", opts.length_penalty, 0, LIMITS.length_penalty);
  checkInt("batch_size", opts.batch_size, LIMITS.batch_size);
  checkChoice("unknown", opts.unknown, ["error", "skip", "replace"]);
  checkChoice("strategy", opts.strategy, ["auto", "fused", "steps"]);
  for (const name of ["truncate", "allow_empty", "sampling"]) {
    if (typeof opts[name] !== "boolean") throw new OptionTypeError(`${name} must be a bool, not ${pyType(opts[name])}`);
  }
  if (opts.sampling || opts.strategy === "steps") {
    throw new InvalidOptionError(`${opts.sampling ? "sampling" : "strategy 'steps'"} runs the decoder step by step, ` +
      "which s2s.mjs does not: it runs the fused graphs; decode that way with the Python runtime");
  }
  return opts;
}

function checkInt(name, value, ceiling) {
  if (!Number.isInteger(value)) throw new OptionTypeError(`${name} must be an int, not ${pyType(value)}`);
  if (value < 1 || value > ceiling) {
    throw new InvalidOptionError(`${name} must be between 1 and ${ceiling}, not ${value}`);
  }
}

function checkNumber(name, value, low, high) {
  if (typeof value !== "number") throw new OptionTypeError(`${name} must be a number, not ${pyType(value)}`);
  if (!(value >= low && value <= high)) {
    throw new InvalidOptionError(`${name} must be between ${low.toFixed(1)} and ${high.toFixed(1)}, not ${value}`);
  }
}

function checkChoice(name, value, choices) {
  const listed = choices.map((c) => `'${c}'`).join(", ");
  if (typeof value !== "string") {
    throw new OptionTypeError(`${name} must be a string, one of ${listed}, not ${pyRepr(value)}`);
  }
  if (!choices.includes(value)) throw new InvalidOptionError(`${name} must be one of ${listed}, not ${pyRepr(value)}`);
}

function pyType(value) {
  if (value === null || value === undefined) return "NoneType";
  if (Array.isArray(value)) return "list";
  return { string: "str", number: Number.isInteger(value) ? "int" : "float", boolean: "bool" }[typeof value] ?? "dict";
}

function asTexts(texts) {
  if (typeof texts === "string") return [texts];
  if (!Array.isArray(texts)) throw new OptionTypeError(`texts must be a str or a list of str, not ${pyType(texts)}`);
  texts.forEach((text, i) => {
    if (typeof text !== "string") throw new OptionTypeError(`texts[${i}] must be a str, not ${pyType(text)}`);
  });
  return texts;
}

function checkIdRows(rows, vocabulary, opts) {
  if (!Array.isArray(rows)) throw new OptionTypeError("ids must be a list of ints or a list of lists of ints");
  const size = vocabulary.inputTokens.length, limit = vocabulary.maxEncoderLen;
  return rows.map((row, index) => {
    if (!Array.isArray(row)) throw new OptionTypeError(`ids[${index}] must be a list of ints, not ${pyType(row)}`);
    for (const value of row) {
      if (!Number.isInteger(value)) throw new OptionTypeError(`ids[${index}] holds ${value}; input ids are integers`);
      if (value < 0 || value >= size) {
        throw new InvalidOptionError(`ids[${index}] holds ${value}; input ids go from 0 to ${size - 1}`);
      }
    }
    if (row.length > limit && !opts.truncate) {
      throw new InputTooLongError(`ids[${index}] has ${row.length} tokens but the encoder takes ` +
        `at most ${limit}; shorten it or pass truncate=True`);
    }
    if (!row.length && !opts.allow_empty) {
      throw new EmptyInputError(`ids[${index}] is empty; pass allow_empty=True to decode it`);
    }
    return row.slice(0, limit);
  });
}

function parseConfig(data, source) {
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw new BundleFormatError(`${source} must hold a JSON object; re-export the bundle`);
  }
  if (!FORMAT_VERSIONS.includes(data.format_version)) {
    throw new BundleFormatError(`${source}: format_version ${data.format_version} is not supported (this s2s.mjs ` +
      `reads ${FORMAT_VERSIONS.join(", ")}); re-export the bundle with this version's 's2s-onnx convert'`);
  }
  if (data.format_version > 1 && (typeof data.model !== "object" || !["one_hot", "ids"].includes(data.model?.input))) {
    throw new BundleFormatError(`${source}: field 'model.input' must be 'one_hot' or 'ids'; re-export the bundle`);
  }
  return data;
}

function bundleBase(url) {
  let text = url instanceof URL ? url.href : String(url);
  if (!text.endsWith("/")) text += "/";
  if (IS_NODE && !/^(https?|file):/.test(text)) return text;
  return new URL(text, IS_NODE ? undefined : globalThis.document?.baseURI ?? globalThis.location?.href).href;
}

async function readBytes(base, name, limit, optional = false) {
  const where = base + name;
  if (IS_NODE && !/^https?:/.test(base)) {
    const fs = await import("node:fs/promises");
    const path = where.startsWith("file:") ? new URL(where) : where;
    let info;
    try { info = await fs.stat(path); } catch (error) {
      if (optional && error.code === "ENOENT") return null;
      throw new BundleFormatError(`cannot read ${where}: ${error.code === "ENOENT" ? "it does not exist" :
        error.message}; give the folder that 's2s-onnx convert -o' or 's2s-onnx web' wrote`);
    }
    if (!info.isFile()) throw new BundleFormatError(`${where} is not a regular file; re-export the bundle`);
    if (info.size > limit) throw new BundleFormatError(`${where} has more than the ${limit} bytes a bundle file may have`);
    return new Uint8Array(await fs.readFile(path));
  }
  const response = await fetch(where);
  if (optional && response.status === 404) return null;
  if (!response.ok) {
    throw new BundleFormatError(`cannot read ${where}: HTTP ${response.status}; give the URL of the folder that ` +
      "'s2s-onnx web' wrote (or that 's2s-onnx serve' serves at /web/model/)");
  }
  if (Number(response.headers.get("content-length") ?? 0) > limit) {
    throw new BundleFormatError(`${where} has more than the ${limit} bytes a bundle file may have`);
  }
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (bytes.length > limit) throw new BundleFormatError(`${where} has more than the ${limit} bytes a bundle file may have`);
  return bytes;
}

async function readJson(base, name, limit, optional = false) {
  const bytes = await readBytes(base, name, limit, optional);
  if (bytes === null) return null;
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (error) {
    throw new BundleFormatError(`${base}${name}: not valid JSON (${error.message}); re-export the bundle`);
  }
}

async function openGraph(ort, base, name, options, inputs) {
  const bytes = await readBytes(base, name, LIMITS.onnx_bytes);
  let session;
  try {
    session = await ort.InferenceSession.create(bytes, options);
  } catch (error) {
    throw new BundleFormatError(`${base}${name} cannot be loaded by onnxruntime (${error.message}); re-export the bundle`);
  }
  const missing = inputs.filter((input) => !session.inputNames.includes(input));
  if (missing.length) {
    throw new BundleFormatError(`${base}${name} lacks the inputs ${missing.join(", ")}: it is not this bundle's ` +
      "fused graph; re-export the bundle with --fused");
  }
  return session;
}

function sessionOptions(threads) {
  return IS_NODE ? { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: "all" }
    : { executionProviders: ["wasm"], graphOptimizationLevel: "all" };
}

async function defaultRuntime(threads) {
  if (IS_NODE) {
    try {
      return await import("onnxruntime-node");
    } catch (error) {
      throw new S2SError(`onnxruntime-node is not installed (${error.message}); run 'npm install ` +
        `onnxruntime-node@${ORT_VERSION}' in your application, or pass load(url, { ort })`);
    }
  }
  const ort = await import(new URL("./ort/ort.wasm.min.mjs", import.meta.url).href);
  ort.env.wasm.wasmPaths = new URL("./ort/", import.meta.url).href;
  ort.env.wasm.numThreads = threads;
  ort.env.logLevel = "error";
  return ort;
}
