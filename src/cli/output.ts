/**
 * One result object per command, printed as JSON or as aligned text. The text is
 * generated from the same object, field by field, so the two never disagree.
 *
 * `ladybug dump` prints stored values, which JSON cannot all express; jsonForm maps
 * every value the store accepts to a JSON value without loss (the forms are listed
 * at jsonForm and in the README), so a dump never aborts on a value.
 */
import { Buffer, isUtf8 } from 'node:buffer';
import { writeOut } from './stdout.js';

export interface Output {
  title: string;
  data: unknown;
}

function replacer(_key: string, value: unknown): unknown {
  // undefined becomes null so JSON keeps every field the text rendering shows.
  if (value === undefined) return null;
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
  return value;
}

/**
 * What text output never prints as it is: controls (C0, DEL, C1: a newline forges a line, ESC
 * drives the terminal), format characters (bidi overrides, zero-width ones), line and paragraph
 * separators, lone surrogates.
 */
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;
const UNPRINTABLE_OR_BACKSLASH = /[\\\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;

/** JSON's escape of one character: \\, \n, \r, \t, else \uXXXX per UTF-16 unit. */
function escapeCharacter(character: string): string {
  if (character === '\\') return '\\\\';
  if (character === '\n') return '\\n';
  if (character === '\r') return '\\r';
  if (character === '\t') return '\\t';
  let escaped = '';
  for (let index = 0; index < character.length; index++) escaped += `\\u${character.charCodeAt(index).toString(16).padStart(4, '0')}`;
  return escaped;
}

/**
 * A key, a string value or a title as text output prints it: a backslash as \\, every unprintable
 * character as JSON escapes it (\n, \r, \t, \uXXXX), so a key prints on one line and reads back
 * exactly (JSON.parse of it in double quotes, a '"' escaped).
 */
export function printableText(text: string): string {
  return text.replace(UNPRINTABLE_OR_BACKSLASH, escapeCharacter);
}

/**
 * JSON text (or a message) with the unprintable characters JSON.stringify leaves as they are
 * (DEL, C1 controls, format characters, U+2028, U+2029) escaped as \uXXXX: in JSON they are only
 * inside strings, where the escape reads back as the same character.
 */
export function printableJson(json: string): string {
  return json.replace(UNPRINTABLE, escapeCharacter);
}

function renderValue(value: unknown): string {
  if (value === undefined || value === null) return '-';
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toFixed(2);
  if (typeof value === 'string') return printableText(value);
  return printableJson(JSON.stringify(value, replacer));
}

function renderLines(data: unknown, indent: string, lines: string[]): void {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    if (Array.isArray(data) && data.every((item) => item !== null && typeof item === 'object')) {
      data.forEach((item, index) => {
        lines.push(`${indent}[${index}]`);
        renderLines(item, `${indent}  `, lines);
      });
      return;
    }
    lines.push(`${indent}${renderValue(data)}`);
    return;
  }
  const entries = Object.entries(data as Record<string, unknown>).map(([key, value]) => [printableText(key), value] as const);
  const width = Math.max(0, ...entries.map(([key]) => key.length));
  for (const [key, value] of entries) {
    if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
      lines.push(`${indent}${key}:`);
      renderLines(value, `${indent}  `, lines);
    } else {
      lines.push(`${indent}${key.padEnd(width)}  ${renderValue(value)}`);
    }
  }
}

/**
 * Prints a command's one result. Its output, over STDOUT_QUEUED_BYTES_MAX, makes writeOut return a
 * promise that rejects if the reader leaves (`| head -c 100`): nothing waits on it (the command
 * has ended), and stdout's error is recorded where main looks (stdoutFailure), so it is caught
 * here, not left to end the process as an unhandled rejection with a stack trace.
 */
export function printResult(output: Output, json: boolean): void {
  if (json) {
    writeOut(`${JSON.stringify(output.data, replacer, 2)}\n`)?.catch(() => undefined);
    return;
  }
  const lines = [printableText(output.title)];
  renderLines(output.data, '  ', lines);
  writeOut(`${lines.join('\n')}\n`)?.catch(() => undefined);
}

/** One tag object: its single key names the type. */
function tagged(tag: string, content: unknown): Record<string, unknown> {
  return { [`$${tag}`]: content };
}

function hex(bytes: ArrayBufferView | ArrayBuffer): string {
  return ArrayBuffer.isView(bytes)
    ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
    : Buffer.from(bytes).toString('hex');
}

function numberForm(value: number): unknown {
  if (Object.is(value, -0)) return tagged('number', '-0');
  return Number.isFinite(value) ? value : tagged('number', String(value));
}

/**
 * The JSON form of a stored value, lossless for everything the store accepts.
 * JSON values stand for themselves, except:
 *   NaN, Infinity, -Infinity, -0   {"$number": "NaN"} (the name as a string)
 *   123n                           {"$bigint": "123"}
 *   undefined (in an array)        {"$undefined": true}
 *   Uint8Array / Buffer            {"$bytes": "<hex>"}
 *   other typed arrays             {"$typedArray": {"type": "Float32Array", "values": [...]}}
 *   ArrayBuffer, DataView          {"$arrayBuffer": "<hex>"}, {"$dataView": "<hex>"}
 *   Date                           {"$date": "<ISO 8601>"} (null for an invalid date)
 *   Map, Set                       {"$map": [[key, value], ...]}, {"$set": [member, ...]}
 *   Error                          {"$error": {"name", "message", "cause"?}}
 *   RegExp                         {"$regexp": {"source", "flags"}}
 *   an object with a "$" key       {"$object": {...}} (so it never reads as one of these)
 * Nested values take the same forms.
 */
export function jsonForm(value: unknown): unknown {
  if (value === undefined) return tagged('undefined', true);
  if (typeof value === 'number') return numberForm(value);
  if (typeof value === 'bigint') return tagged('bigint', value.toString());
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Uint8Array) return tagged('bytes', hex(value));
  if (value instanceof DataView) return tagged('dataView', hex(value));
  if (ArrayBuffer.isView(value)) {
    const elements = Array.from(value as unknown as ArrayLike<number | bigint>, jsonForm);
    return tagged('typedArray', { type: value.constructor.name, values: elements });
  }
  if (value instanceof ArrayBuffer) return tagged('arrayBuffer', hex(value));
  if (value instanceof Date) return tagged('date', Number.isNaN(value.getTime()) ? null : value.toISOString());
  if (value instanceof Map) return tagged('map', Array.from(value, ([key, entry]) => [jsonForm(key), jsonForm(entry)]));
  if (value instanceof Set) return tagged('set', Array.from(value, jsonForm));
  if (value instanceof Error) {
    const fields: Record<string, unknown> = { name: value.name, message: value.message };
    if (value.cause !== undefined) fields.cause = jsonForm(value.cause);
    return tagged('error', fields);
  }
  if (value instanceof RegExp) return tagged('regexp', { source: value.source, flags: value.flags });
  // Array.from visits holes as undefined, as msgpack stores them.
  if (Array.isArray(value)) return Array.from(value, jsonForm);
  const fields: Record<string, unknown> = {};
  let hasTagLikeKey = false;
  for (const [name, field] of Object.entries(value)) {
    // defineProperty, not assignment: a "__proto__" key stays an own field.
    Object.defineProperty(fields, name, { value: jsonForm(field), enumerable: true, writable: true, configurable: true });
    if (name.startsWith('$')) hasTagLikeKey = true;
  }
  return hasTagLikeKey ? tagged('object', fields) : fields;
}

/** A dumped key: its string when its bytes are UTF-8, else {"$bytes": "<hex>"}. */
export function keyJsonForm(key: string | Uint8Array): unknown {
  if (typeof key === 'string') return key;
  return isUtf8(key) ? Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('utf8') : tagged('bytes', hex(key));
}

/**
 * A key as text output prints it: a UTF-8 key as its string, unprintable characters escaped
 * (printableText), and a leading '{' as \u007b, so only another key's form, {"$bytes":"<hex>"},
 * starts with a raw brace (a UTF-8 key spelled that way printed the same line).
 */
export function keyText(keyForm: unknown): string {
  if (typeof keyForm !== 'string') return JSON.stringify(keyForm);
  const text = printableText(keyForm);
  return text.startsWith('{') ? `\\u007b${text.slice(1)}` : text;
}

/** A value as text output prints it: its JSON form, unprintable characters escaped (printableJson). */
export function valueText(value: unknown): string {
  return printableJson(JSON.stringify(jsonForm(value)));
}

/** One line of `ladybug dump`: a JSON object {key, value}, or the key, a tab and the value's JSON form, escaped. */
export function dumpLine(key: string | Uint8Array, value: unknown, json: boolean): string {
  const keyForm = keyJsonForm(key);
  if (json) return `${JSON.stringify({ key: keyForm, value: jsonForm(value) })}\n`;
  return `${keyText(keyForm)}\t${valueText(value)}\n`;
}
