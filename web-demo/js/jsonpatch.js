// RFC 6902 JSON Patch, applied to a copy. The server has already validated and
// committed every patch this page applies, so a failure here is a bug, not input.

function parsePointer(path) {
  if (path === "") return [];
  return path
    .slice(1)
    .split("/")
    .map((token) => token.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function parentOf(doc, tokens) {
  let node = doc;
  for (const token of tokens.slice(0, -1)) node = node[token];
  return [node, tokens[tokens.length - 1]];
}

function read(doc, path) {
  return parsePointer(path).reduce((node, token) => node[token], doc);
}

function add(doc, path, value) {
  const [parent, key] = parentOf(doc, parsePointer(path));
  if (Array.isArray(parent)) parent.splice(key === "-" ? parent.length : Number(key), 0, value);
  else parent[key] = value;
}

function remove(doc, path) {
  const [parent, key] = parentOf(doc, parsePointer(path));
  if (Array.isArray(parent)) parent.splice(Number(key), 1);
  else delete parent[key];
}

/** The document after `ops`; `doc` itself is left untouched. */
export function applyPatch(doc, ops) {
  const result = structuredClone(doc);
  for (const op of ops) {
    if (op.op === "add") add(result, op.path, structuredClone(op.value));
    else if (op.op === "remove") remove(result, op.path);
    else if (op.op === "replace") {
      remove(result, op.path);
      add(result, op.path, structuredClone(op.value));
    } else if (op.op === "move") {
      const value = read(result, op.from);
      remove(result, op.from);
      add(result, op.path, value);
    } else if (op.op === "copy") add(result, op.path, structuredClone(read(result, op.from)));
    // "test" changes nothing, and it passed on the server.
  }
  return result;
}

/** The top-level fields a patch touches ("/recurrence/0" touches "recurrence"). */
export function touchedFields(ops) {
  const fields = new Set();
  for (const op of ops) {
    for (const path of [op.path, op.from]) if (path) fields.add(parsePointer(path)[0]);
  }
  return fields;
}
