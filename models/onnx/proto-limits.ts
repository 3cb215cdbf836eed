/**
 * The limits of ONNX_LIMITS (models/weights/limits.ts) checked on the protobuf wire, before
 * protobufjs decodes anything: decoding builds a JS object per node and a JS number per value of a
 * typed field, so a hostile file (millions of nodes, a huge packed `ints` attribute, weights in
 * float_data) would exhaust the heap before any check on the decoded model could run. Walks the
 * graph (and the subgraphs of attributes), counting nodes, initializers, attribute entries,
 * tensor ranks and typed-field bytes; each limit passed is an SdsError naming it.
 */
import { SdsError } from '../../core/errors.js';
import { formatBytes, ONNX_LIMITS, type OnnxLimits } from '../weights/limits.js';

interface Field {
  field: number;
  wire: number;
  /** Varint value (wire 0). */
  value: number;
  /** Payload span (wire 2). */
  start: number;
  end: number;
}

type Bad = (why: string) => never;

function varint(b: Uint8Array, p: number, end: number, bad: Bad): { value: number; next: number } {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10 && p + i < end; i++) {
    const byte = b[p + i]!;
    value += (byte & 0x7f) * scale;
    scale *= 128;
    if ((byte & 0x80) === 0) return { value, next: p + i + 1 };
  }
  return bad(`a varint at byte ${p} is cut off`);
}

function* fields(b: Uint8Array, start: number, end: number, bad: Bad): Generator<Field> {
  let p = start;
  while (p < end) {
    const tag = varint(b, p, end, bad);
    const field = Math.floor(tag.value / 8);
    const wire = tag.value % 8;
    let f: Field;
    if (wire === 0) {
      const v = varint(b, tag.next, end, bad);
      f = { field, wire, value: v.value, start: tag.next, end: v.next };
    } else if (wire === 2) {
      const len = varint(b, tag.next, end, bad);
      if (len.next + len.value > end) bad(`field ${field} at byte ${p} runs past its message`);
      f = { field, wire, value: len.value, start: len.next, end: len.next + len.value };
    } else if (wire === 1 || wire === 5) {
      const size = wire === 1 ? 8 : 4;
      if (tag.next + size > end) bad(`field ${field} at byte ${p} runs past its message`);
      f = { field, wire, value: 0, start: tag.next, end: tag.next + size };
    } else return bad(`byte ${p} holds wire type ${wire}, which ONNX does not use`);
    yield f;
    p = f.end;
  }
}

/** Varints in a packed field. */
function packedCount(b: Uint8Array, f: Field): number {
  let n = 0;
  for (let i = f.start; i < f.end; i++) if ((b[i]! & 0x80) === 0) n++;
  return n;
}

class WireLimits {
  nodes = 0;
  initializers = 0;
  typedBytes = 0;

  constructor(
    private readonly b: Uint8Array,
    private readonly file: string,
    private readonly limits: OnnxLimits,
  ) {}

  bad: Bad = (why) => {
    throw new SdsError('NOT_A_WEIGHTS_FILE', `${this.file} is not a readable ONNX model (${why})`, { suggestion: 'it is damaged or not ONNX: fetch or export it again', context: { file: this.file } });
  };

  private tooLarge(what: string, limit: keyof typeof ONNX_LIMITS, shown: string): never {
    throw new SdsError('WEIGHTS_TOO_LARGE', `${this.file}: ${what}, past sds's limit of ${shown} (ONNX_LIMITS.${limit})`, {
      suggestion: 'no CNN sds runs comes near this; the file is damaged or not a model to explain',
      context: { file: this.file },
    });
  }

  /** GraphProto: node = 1, initializer = 5. */
  graph(start: number, end: number, depth: number): void {
    if (depth > this.limits.subgraphDepth) {
      throw new SdsError('WEIGHTS_UNSUPPORTED', `${this.file}: its subgraphs are nested more than ${this.limits.subgraphDepth} deep (ONNX_LIMITS.subgraphDepth)`, { suggestion: 'sds runs CNNs exported by torch.onnx, which have no nested subgraphs', context: { file: this.file } });
    }
    for (const f of fields(this.b, start, end, this.bad)) {
      if (f.wire !== 2) continue;
      if (f.field === 1) {
        if (++this.nodes > this.limits.nodes) this.tooLarge(`its graph has more than ${this.limits.nodes} nodes`, 'nodes', `${this.limits.nodes} nodes`);
        this.node(f.start, f.end, depth);
      } else if (f.field === 5) {
        if (++this.initializers > this.limits.initializers) this.tooLarge(`its graph has more than ${this.limits.initializers} initializers`, 'initializers', `${this.limits.initializers} initializers`);
        this.tensor(f.start, f.end);
      }
    }
  }

  /** NodeProto: attribute = 5. */
  private node(start: number, end: number, depth: number): void {
    for (const f of fields(this.b, start, end, this.bad)) if (f.field === 5 && f.wire === 2) this.attribute(f.start, f.end, depth);
  }

  /** AttributeProto: t = 5, g = 6, floats = 7, ints = 8, strings = 9, tensors = 10, graphs = 11. */
  private attribute(start: number, end: number, depth: number): void {
    let entries = 0;
    for (const f of fields(this.b, start, end, this.bad)) {
      if (f.field === 7) entries += f.wire === 2 ? (f.end - f.start) / 4 : 1;
      else if (f.field === 8) entries += f.wire === 2 ? packedCount(this.b, f) : 1;
      else if (f.field === 9 || f.field === 10 || f.field === 11) entries++;
      if (entries > this.limits.attributeElements) this.tooLarge(`an attribute lists more than ${this.limits.attributeElements} entries`, 'attributeElements', `${this.limits.attributeElements} entries`);
      if (f.wire !== 2) continue;
      if (f.field === 5 || f.field === 10) this.tensor(f.start, f.end);
      else if (f.field === 6 || f.field === 11) this.graph(f.start, f.end, depth + 1);
    }
  }

  /** TensorProto: dims = 1; typed values float_data 4, int32_data 5, string_data 6, int64_data 7, double_data 10, uint64_data 11. */
  private tensor(start: number, end: number): void {
    let rank = 0;
    for (const f of fields(this.b, start, end, this.bad)) {
      if (f.field === 1) rank += f.wire === 2 ? packedCount(this.b, f) : 1;
      else if ([4, 5, 6, 7, 10, 11].includes(f.field)) {
        this.typedBytes += f.end - f.start;
        if (this.typedBytes > this.limits.typedFieldBytes) {
          this.tooLarge(`its tensors keep more than ${formatBytes(this.limits.typedFieldBytes)} of values in typed fields (not raw_data)`, 'typedFieldBytes', formatBytes(this.limits.typedFieldBytes));
        }
      }
    }
    if (rank > this.limits.rank) {
      throw new SdsError('WEIGHTS_UNSUPPORTED', `${this.file}: a tensor has rank ${rank}, past sds's limit of ${this.limits.rank} (ONNX_LIMITS.rank)`, { suggestion: 'sds runs CNNs, whose tensors have rank 4 or less', context: { file: this.file } });
    }
  }
}

/** Checks the counts and sizes of a ModelProto's graph (field 7) on the wire. */
export function checkWireLimits(b: Uint8Array, file: string, limits: OnnxLimits = ONNX_LIMITS): void {
  const w = new WireLimits(b, file, limits);
  for (const f of fields(b, 0, b.length, w.bad)) if (f.field === 7 && f.wire === 2) w.graph(f.start, f.end, 0);
}
