// s2s-text.mjs: how s2s.mjs turns a text into the model's tokens and its tokens back into text, exactly as the
// Python runtime does (s2s_onnx.runtime.vocab and .text): the Keras example's characters, whitespace words, or a
// Keras Tokenizer's or TextVectorization's rules; the bundle's decode loop (stop, cap, joiner).

export class S2SError extends Error {
  constructor(message) { super(message); this.name = new.target.name; }
}
export class BundleFormatError extends S2SError {}
export class UnknownCharacterError extends S2SError {
  constructor(message, characters) { super(message); this.characters = characters; }
}
export class InputTooLongError extends S2SError {}
export class EmptyInputError extends S2SError {}
export class InvalidOptionError extends S2SError {}
export class OptionTypeError extends S2SError {}

// Python's str.isspace(): what str.split() splits on and str.strip() removes (JavaScript's \s is another set).
const SPACE = "\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const SPACES = new RegExp(`[${SPACE}]+`, "u");
const BLANK = new RegExp(`^[${SPACE}]*$`, "u");
const UNSEEN = /^[\p{M}\p{C}\p{Z}]$/u; // shown with their code point in messages
const UNPRINTABLE = /^[\p{C}\p{Z}]$/u; // what Python's repr() escapes (but the space)
const POLICIES = ["error", "skip", "replace"];

/** A string as Python's repr() writes it (messages quote inputs the way the Python runtime's do). */
export function pyRepr(value) {
  if (typeof value !== "string") return value === null || value === undefined ? "None" : JSON.stringify(value);
  const quote = value.includes("'") && !value.includes('"') ? '"' : "'";
  const named = { "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", [quote]: `\\${quote}` };
  const body = Array.from(value, (c) => {
    if (named[c]) return named[c];
    if (c === " " || !UNPRINTABLE.test(c)) return c;
    const code = c.codePointAt(0);
    const [mark, width] = code < 0x100 ? ["x", 2] : code < 0x10000 ? ["u", 4] : ["U", 8];
    return `\\${mark}${code.toString(16).padStart(width, "0")}`;
  });
  return quote + body.join("") + quote;
}

function show(tokens) {
  return tokens.map((t) => {
    const chars = Array.from(t);
    if (chars.length !== 1 || t === " " || !UNSEEN.test(t)) return pyRepr(t);
    return `${pyRepr(t)} (U+${t.codePointAt(0).toString(16).toUpperCase().padStart(4, "0")})`;
  }).join(", ");
}

function byCodePoint(a, b) {
  const x = Array.from(a, (c) => c.codePointAt(0)), y = Array.from(b, (c) => c.codePointAt(0));
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

/** Text rules: `lower`, `filters` (turned into `split`, or removed with `strip`), `split` (null: any whitespace),
 * `oov_token` (what unknown words become), as the model's Tokenizer or TextVectorization had them. */
class TextHandling {
  constructor(data = {}) {
    this.lower = data.lower ?? false;
    this.filters = new Set(Array.from(data.filters ?? ""));
    this.split = data.split ?? null;
    this.strip = data.strip ?? false;
    this.oov_token = data.oov_token ?? null;
    this.isDefault = !this.lower && !this.filters.size && this.split === null && !this.strip && this.oov_token === null;
  }

  prepared(text) {
    if (this.lower) text = text.toLowerCase();
    if (!this.filters.size) return text;
    const replacement = this.strip ? "" : this.split || " ";
    return Array.from(text, (c) => (this.filters.has(c) ? replacement : c)).join("");
  }

  words(text) {
    text = this.prepared(text);
    return (this.split ? text.split(this.split) : text.split(SPACES)).filter((word) => word);
  }
}

export class Vocabulary {
  constructor(fields) {
    Object.assign(this, fields);
    this.inputIndex = new Map(this.inputTokens.map((t, i) => [t, i]));
    this.targetIndex = new Map(this.targetTokens.map((t, i) => [t, i]));
    this.endId = this.targetIndex.get(this.end);
    this.separator = this.loop.joiner ?? (this.tokenization === "word" ? " " : "");
  }

  /** The vocabulary of a config.json (format 1: token strings; 2 and 3: token lists in id order). */
  static fromConfig(config, source = "config.json") {
    const v = config.vocabulary;
    const fail = (what) => { throw new BundleFormatError(`${source}: vocabulary ${what}; re-export the bundle`); };
    if (v === null || typeof v !== "object") fail("must be a JSON object");
    const legacy = config.format_version === 1;
    const list = (key) => {
      const tokens = legacy ? Array.from(v[key] ?? "") : v[key];
      if (!Array.isArray(tokens) || !tokens.length || tokens.some((t) => typeof t !== "string")) {
        fail(`field '${key}' must be a non-empty list of strings`);
      }
      return tokens;
    };
    const length = (key) => (Number.isInteger(v[key]) && v[key] >= 1 ? v[key] : fail(`field '${key}' must be >= 1`));
    const loop = v.loop ?? {};
    const vocab = new Vocabulary({
      tokenization: legacy ? "char" : v.tokenization ?? "char",
      inputTokens: list(legacy ? "input_chars" : "input_tokens"),
      targetTokens: list(legacy ? "target_chars" : "target_tokens"),
      maxEncoderLen: length(legacy ? "max_encoder_len" : "max_encoder_seq_length"),
      maxDecoderLen: length(legacy ? "max_decoder_len" : "max_decoder_seq_length"),
      start: (legacy ? v.start_char : v.start) ?? "\t",
      end: (legacy ? v.end_char : v.end) ?? "\n",
      padding: (legacy ? v.pad_char : v.padding) ?? " ",
      text: new TextHandling(v.text ?? {}),
      loop: { stop: loop.stop ?? "end", max_length: loop.max_length ?? null, joiner: loop.joiner ?? null,
        stops_at_end: (loop.stop ?? "end") === "end" },
    });
    if (!["char", "word"].includes(vocab.tokenization)) fail("tokenization must be 'char' or 'word'");
    if (vocab.endId === undefined || !vocab.targetIndex.has(vocab.start)) fail("start or end is not a target token");
    return vocab;
  }

  tokenize(text) {
    if (this.tokenization === "word") return this.text.words(text);
    return Array.from(this.text.isDefault ? text : this.text.prepared(text));
  }

  /** One text's tokens after the unknown-token, length and empty-input rules (Python's Vocabulary.clean). */
  clean(text, rules) {
    if (typeof text !== "string") throw new OptionTypeError(`input must be str, not ${typeof text}`);
    const { unknown, truncate, allow_empty: allowEmpty } = rules;
    if (!POLICIES.includes(unknown)) {
      throw new InvalidOptionError(`unknown must be 'error', 'skip' or 'replace', not ${pyRepr(unknown)}`);
    }
    if (!allowEmpty && BLANK.test(text)) {
      throw new EmptyInputError(`input is ${text ? "blank" : "empty"}; pass allow_empty=True (CLI: --allow-empty) ` +
        "to decode it");
    }
    let tokens = this.tokenize(text);
    const what = this.tokenization === "word" ? "words" : "characters";
    const oov = this.text.oov_token;
    if (oov !== null && this.inputIndex.has(oov)) tokens = tokens.map((t) => (this.inputIndex.has(t) ? t : oov));
    const bad = [...new Set(tokens.filter((t) => !this.inputIndex.has(t)))].sort(byCodePoint);
    if (bad.length) {
      if (unknown === "error") {
        throw new UnknownCharacterError(`input has ${what} the model does not know: ${show(bad)}; remove them or ` +
          "pass unknown='skip' or unknown='replace' (CLI: --unknown)", bad);
      }
      const filler = unknown === "replace" && this.inputIndex.has(this.padding) ? [this.padding] : [];
      tokens = tokens.flatMap((t) => (this.inputIndex.has(t) ? [t] : filler));
      if (!allowEmpty && tokens.every((t) => t === this.padding)) {
        throw new EmptyInputError(`input has no ${what} the model knows, only unknown ones (${show(bad)}), so it is ` +
          `empty once they are ${unknown === "replace" ? "replaced" : "skipped"}; pass allow_empty=True (CLI: ` +
          "--allow-empty) to decode it anyway");
      }
    }
    if (tokens.length > this.maxEncoderLen) {
      if (!truncate) {
        throw new InputTooLongError(`input has ${tokens.length} ${what} but the encoder takes at most ` +
          `${this.maxEncoderLen}; shorten it or pass truncate=True (CLI: --truncate)`);
      }
      tokens = tokens.slice(0, this.maxEncoderLen);
    }
    return tokens;
  }

  unknownCount(text) {
    return this.tokenize(text).filter((t) => !this.inputIndex.has(t)).length;
  }

  sourceIds(tokens) {
    return tokens.map((t) => this.inputIndex.get(t));
  }

  /** (batch, time) int64 ids, padded with the padding token's id (else 0), for an Embedding encoder. */
  encodeIdRows(rows) {
    const length = this.maxEncoderLen, pad = BigInt(this.inputIndex.get(this.padding) ?? 0);
    const data = new BigInt64Array(rows.length * length).fill(pad);
    rows.forEach((ids, row) => ids.slice(0, length).forEach((id, t) => { data[row * length + t] = BigInt(id); }));
    return data;
  }

  /** (batch, time, tokens) one-hot float32, padded with the padding token (else zeros), as the Keras example. */
  encodeOneHot(rows) {
    const length = this.maxEncoderLen, width = this.inputTokens.length, pad = this.inputIndex.get(this.padding);
    const data = new Float32Array(rows.length * length * width);
    rows.forEach((ids, row) => {
      for (let t = 0; t < length; t++) {
        const id = t < ids.length ? ids[t] : pad;
        if (id !== undefined) data[(row * length + t) * width + id] = 1;
      }
    });
    return data;
  }

  decodeIds(ids) {
    return ids.map((id) => this.targetTokens[id]).join(this.separator);
  }
}
