/**
 * XML metadata of the TIFF vendors that keep it in tags (Philips ImageDescription, Leica SCN ImageDescription,
 * Ventana XMP): a parsed element tree and the few reads their drivers make of it, with OpenSlide's rules for
 * what counts as well-formed and how attribute numbers are parsed (libxml2 + g_ascii_strto* in OpenSlide 3.4.1).
 * fast-xml-parser does the parsing; this module only reshapes its output into a small tree.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import type { TiffDirectory } from '../directory.js';

export interface XmlElement {
  /** The name as written, with any prefix ("scn", "d:scn"). */
  name: string;
  /** The name without its prefix. */
  local: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  /** Its own text nodes, in order (XPath's `text()`): whitespace kept, entities decoded. */
  texts: string[];
}

/** Nesting deeper than any vendor writes: a deeper document is refused rather than walked. */
const MAX_DEPTH = 256;

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  processEntities: true,
  htmlEntities: false,
});

type Node = Record<string, unknown>;

/** The root element, or why the text is not one well-formed XML document (libxml2 refuses the same). */
export function parseXml(text: string): { root: XmlElement } | { error: string } {
  const valid = XMLValidator.validate(text);
  if (valid !== true) return { error: `${valid.err.msg} (line ${valid.err.line})` };
  let nodes: Node[];
  try {
    nodes = parser.parse(text) as Node[];
  } catch (cause) {
    return { error: (cause as Error).message };
  }
  const roots = nodes.filter((n) => elementName(n) !== undefined);
  if (roots.length !== 1) return { error: roots.length ? `${roots.length} root elements` : 'no root element' };
  if (nodes.some((n) => '#text' in n && String(n['#text']).trim() !== '')) return { error: 'text outside the root element' };
  // Iterative, so a hostile nesting depth cannot exhaust the stack.
  const root = toElement(roots[0]!);
  const stack: { node: Node; el: XmlElement; depth: number }[] = [{ node: roots[0]!, el: root, depth: 1 }];
  while (stack.length) {
    const { node, el, depth } = stack.pop()!;
    if (depth > MAX_DEPTH) return { error: `elements nested deeper than ${MAX_DEPTH}` };
    for (const child of (node[el.name] as Node[] | undefined) ?? []) {
      if ('#text' in child) el.texts.push(String(child['#text']));
      else if (elementName(child) !== undefined) {
        const sub = toElement(child);
        el.children.push(sub);
        stack.push({ node: child, el: sub, depth: depth + 1 });
      }
    }
  }
  return { root };
}

const parsedDescriptions = new WeakMap<TiffDirectory, ReturnType<typeof parseXml>>();

/** A directory's ImageDescription parsed once (detect and open both ask), undefined when it has none. */
export function descriptionXml(dir: TiffDirectory): ReturnType<typeof parseXml> | undefined {
  if (dir.description === undefined) return undefined;
  let parsed = parsedDescriptions.get(dir);
  if (!parsed) {
    parsed = parseXml(dir.description);
    parsedDescriptions.set(dir, parsed);
  }
  return parsed;
}

function elementName(node: Node): string | undefined {
  return Object.keys(node).find((k) => k !== ':@' && k !== '#text');
}

function toElement(node: Node): XmlElement {
  const name = elementName(node)!;
  const attributes = { ...((node[':@'] as Record<string, unknown> | undefined) ?? {}) } as Record<string, string>;
  for (const key of Object.keys(attributes)) attributes[key] = String(attributes[key]);
  return { name, local: localName(name), attributes, children: [], texts: [] };
}

export function localName(name: string): string {
  return name.slice(name.indexOf(':') + 1);
}

/** The namespace URI of an element declared on itself (what a root element's namespace is). */
export function ownNamespace(el: XmlElement): string | undefined {
  const colon = el.name.indexOf(':');
  return el.attributes[colon < 0 ? 'xmlns' : `xmlns:${el.name.slice(0, colon)}`];
}

/** Child elements with this local name. */
export function children(el: XmlElement, local: string): XmlElement[] {
  return el.children.filter((c) => c.local === local);
}

/** The elements at a path of local names below `el` (`['a', 'b']`: every b in every a), in document order. */
export function select(el: XmlElement, path: readonly string[]): XmlElement[] {
  let level = [el];
  for (const step of path) level = level.flatMap((e) => children(e, step));
  return level;
}

/** All text inside an element, descendants included (libxml2's xmlNodeGetContent). */
export function textContent(el: XmlElement): string {
  if (el.children.length === 0) return el.texts.join('');
  // Text and child elements interleave in the document; the tree keeps them apart, so this joins own text
  // first. Vendor values are leaves (text only), where the order question does not arise.
  return el.texts.join('') + el.children.map(textContent).join('');
}

/** XPath's string value of `path/text()`: the first text node of the first element on the path that has one. */
export function firstText(el: XmlElement, path: readonly string[]): string | undefined {
  for (const e of select(el, path)) if (e.texts.length) return e.texts[0];
  return undefined;
}

/** g_ascii_strtoll over the whole value, as OpenSlide parses integer attributes: undefined when not an integer. */
export function parseIntegerLikeOpenSlide(value: string | undefined): number | undefined {
  if (value === undefined || !/^\s*[+-]?\d+$/.test(value)) return undefined;
  const n = Number(value.trim());
  return Number.isSafeInteger(n) ? n : undefined;
}

/** OpenSlide's _openslide_parse_double: a comma taken as the decimal point, the whole value a decimal number. */
export function parseDoubleLikeOpenSlide(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const canonical = value.replaceAll(',', '.');
  if (!/^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(canonical)) return undefined;
  const n = Number(canonical.trim());
  return Number.isFinite(n) ? n : undefined;
}
