// Drops the top-level `component-name` custom section of a component (the debug names
// wit-component gives its items, 14 KB): what `strip = true` does for the core module.
// Usage: node strip-names.js FILE (rewritten in place).
"use strict";
const fs = require("fs");
const file = process.argv[2];
const bytes = fs.readFileSync(file);
// u32 LEB128 at `at`: [value, bytes read].
function leb(at) {
  let value = 0, shift = 0, i = at;
  for (;;) {
    const b = bytes[i++];
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (b < 0x80) return [value, i - at];
  }
}
const kept = [bytes.subarray(0, 8)];
let at = 8;
while (at < bytes.length) {
  const [size, n] = leb(at + 1);
  const end = at + 1 + n + size;
  let drop = false;
  if (bytes[at] === 0) {
    const [len, m] = leb(at + 1 + n);
    const name = bytes.subarray(at + 1 + n + m, at + 1 + n + m + len).toString("utf8");
    drop = name === "component-name";
  }
  if (!drop) kept.push(bytes.subarray(at, end));
  at = end;
}
if (at !== bytes.length) throw new Error(`${file}: malformed section list`);
fs.writeFileSync(file, Buffer.concat(kept));
