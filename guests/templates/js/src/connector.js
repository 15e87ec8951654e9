// {{name}}: a kvbox connector in JavaScript, made a component by
// componentize-js (`kvbox build`), for the contract kvbox:connector@{{contract}}
// (the frozen WIT is in wit/).
//
// Layout: key K is stored at `o/<hex of K's UTF-8 bytes, in segments of at
// most 200 characters>`, every segment but the last a directory ending in
// `.d`, the last a file ending in `.o` — reversible, so listings return keys.
// Payloads are host handles: put hands the caller's data to objects.write and
// get returns what objects.read gave, so the bytes never enter this engine.
import { listObjects as list, read, readInto, remove, stat, write } from 'kvbox:connector/objects@{{contract}}';

const SEGMENT = 200;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** A WIT `error` variant: componentize-js returns a thrown value whose `payload` is set as `err(payload)`. */
class StoreError extends Error {
  constructor(tag, message) {
    super(message);
    this.payload = { tag, val: message };
  }
}

function pathOf(key) {
  let hex = '';
  for (const b of encoder.encode(key)) hex += b.toString(16).padStart(2, '0');
  const segments = [];
  for (let i = 0; i < hex.length; i += SEGMENT) segments.push(hex.slice(i, i + SEGMENT));
  return `o/${segments.map((s, i) => (i === segments.length - 1 ? `${s}.o` : `${s}.d`)).join('/')}`;
}

function keyOf(path) {
  const parts = path.split('/');
  if (parts.shift() !== 'o' || parts.length === 0) return undefined;
  let hex = '';
  for (const [i, part] of parts.entries()) {
    const last = i === parts.length - 1;
    if (!part.endsWith(last ? '.o' : '.d')) return undefined;
    const digits = part.slice(0, -2);
    if (!/^[0-9a-f]+$/.test(digits) || (!last && digits.length !== SEGMENT) || digits.length > SEGMENT) return undefined;
    hex += digits;
  }
  if (hex.length % 2 !== 0) return undefined;
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  try {
    const key = decoder.decode(bytes);
    return pathOf(key) === path ? key : undefined;
  } catch {
    return undefined;
  }
}

/** Runs `f` for each item; a failure becomes that item's error, never the batch's. */
function each(items, f) {
  return items.map((item, i) => {
    try {
      return { tag: 'ok', val: f(item, i) };
    } catch (e) {
      return { tag: 'err', val: e?.payload ?? { tag: 'other', val: String(e) } };
    }
  });
}

class Connector {
  /** The configuration: this connector takes no settings. */
  static open(config) {
    const parsed = JSON.parse(config);
    const unknown = Object.keys(parsed ?? {});
    if (unknown.length > 0) throw new StoreError('invalid-config', `${unknown[0]}: {{name}} takes no configuration keys`);
    return new Connector();
  }

  exists(key) {
    return stat(pathOf(key)) !== undefined;
  }

  put(key, data) {
    write(pathOf(key), data);
  }

  get(key) {
    return read(pathOf(key));
  }

  remove(key) {
    return remove(pathOf(key));
  }

  size(key) {
    return stat(pathOf(key));
  }

  existsMany(keys) {
    return each(keys, (k) => this.exists(k));
  }

  sizeMany(keys) {
    return each(keys, (k) => this.size(k));
  }

  getMany(keys) {
    return each(keys, (k) => this.get(k));
  }

  // The targets and data of these two are handed over for the call: drop
  // each now (Symbol.dispose), not when the garbage collector gets to it —
  // until then each holds one of the instance's host handles
  // (limits.maxHostHandles), and a batch has hundreds.
  getManyInto(keys, targets) {
    return each(keys, (k, i) => {
      try {
        return readInto(pathOf(k), targets[i]);
      } finally {
        targets[i][Symbol.dispose]();
      }
    });
  }

  putMany(keys, data) {
    return each(keys, (k, i) => {
      try {
        return this.put(k, data[i]);
      } finally {
        data[i][Symbol.dispose]();
      }
    });
  }

  removeMany(keys) {
    return each(keys, (k) => this.remove(k));
  }

  listKeys(cursor, limit) {
    const page = list('o', cursor, limit);
    const keys = page.paths.map(keyOf).filter((k) => k !== undefined);
    return { keys, cursor: page.more && page.paths.length > 0 ? page.paths[page.paths.length - 1] : undefined };
  }
}

export const store = { Connector };
