"""Checks HTTP responses against docs/openapi.yaml with the standard library only.

`load_yaml` reads the block-style YAML subset the document is written in (mappings, sequences,
plain and quoted scalars, one-line or wrapped flow collections, folded and literal block
scalars); scripts/lint-openapi.sh proves it reads the same document Redocly bundles
(`python3 openapi_check.py --same-as bundled.json docs/openapi.yaml`).

`validate` implements the JSON Schema subset the document uses: $ref (local), allOf, type
(including type arrays for nullable), enum, required, properties, additionalProperties,
unevaluatedProperties false, items, minItems/maxItems, minimum/maximum, minLength/maxLength,
pattern and the formats uuid, date-time and uri.
"""

import json
import os
import re
import sys

SPEC_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "openapi.yaml")

# --------------------------------------------------------------------------------------------
# YAML subset


class YamlError(ValueError):
    pass


_INT = re.compile(r"^[-+]?[0-9]+$")
_FLOAT = re.compile(r"^[-+]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$")


def _strip_comment(line):
    quote = None
    for i, c in enumerate(line):
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"" and (i == 0 or line[i - 1] in " [{,:-"):
            quote = c
        elif c == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i].rstrip()
    return line.rstrip()


def _plain_scalar(text):
    if text in ("null", "~", "Null", "NULL"):
        return None
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    return text


def _quoted(text, i):
    """A quoted scalar starting at text[i]; returns (value, index after it)."""
    q = text[i]
    j = i + 1
    if q == "'":
        out = []
        while j < len(text):
            if text[j] == "'":
                if j + 1 < len(text) and text[j + 1] == "'":
                    out.append("'")
                    j += 2
                    continue
                return "".join(out), j + 1
            out.append(text[j])
            j += 1
        raise YamlError("unterminated quote: " + text)
    while j < len(text):
        if text[j] == "\\":
            j += 2
            continue
        if text[j] == '"':
            return json.loads(text[i:j + 1]), j + 1
        j += 1
    raise YamlError("unterminated quote: " + text)


def _scalar(text):
    text = text.strip()
    if text and text[0] in "'\"":
        value, end = _quoted(text, 0)
        if text[end:].strip():
            raise YamlError("junk after quoted scalar: " + text)
        return value
    if text and text[0] in "[{":
        value, end = _flow(text, 0)
        if text[end:].strip():
            raise YamlError("junk after flow collection: " + text)
        return value
    return _plain_scalar(text)


def _skip_space(text, i):
    while i < len(text) and text[i] in " \t":
        i += 1
    return i


def _flow(text, i):
    """A flow collection or scalar starting at text[i]; returns (value, index after it)."""
    i = _skip_space(text, i)
    c = text[i]
    if c in "'\"":
        return _quoted(text, i)
    if c == "[":
        out = []
        i = _skip_space(text, i + 1)
        if text[i] == "]":
            return out, i + 1
        while True:
            value, i = _flow(text, i)
            out.append(value)
            i = _skip_space(text, i)
            if text[i] == ",":
                i = _skip_space(text, i + 1)
                if text[i] == "]":
                    return out, i + 1
                continue
            if text[i] == "]":
                return out, i + 1
            raise YamlError("bad flow sequence: " + text)
    if c == "{":
        out = {}
        i = _skip_space(text, i + 1)
        if text[i] == "}":
            return out, i + 1
        while True:
            key, i = _flow(text, i)
            i = _skip_space(text, i)
            if text[i] != ":":
                raise YamlError("bad flow mapping: " + text)
            value, i = _flow(text, i + 1)
            out[key] = value
            i = _skip_space(text, i)
            if text[i] == ",":
                i = _skip_space(text, i + 1)
                continue
            if text[i] == "}":
                return out, i + 1
            raise YamlError("bad flow mapping: " + text)
    j = i
    while j < len(text) and text[j] not in ",]}" and not (text[j] == ":" and
                                                            (j + 1 == len(text) or text[j + 1] == " ")):
        j += 1
    return _plain_scalar(text[i:j].strip()), j


def _split_key(content):
    """`key: value` / `key:` → (key, rest) or None when the line is not a mapping entry."""
    if content[0] in "'\"":
        key, end = _quoted(content, 0)
        rest = content[end:]
        if rest == ":" or rest.startswith(": "):
            return key, rest[1:].strip()
        return None
    m = re.match(r"^([^\s'\"\[\]{},#][^:#]*?):(\s+(.*))?$", content)
    if not m:
        return None
    return m.group(1), (m.group(3) or "").strip()


class _Reader:
    def __init__(self, text):
        self.lines = []
        for raw in text.splitlines():
            if "\t" in raw[:len(raw) - len(raw.lstrip())]:
                raise YamlError("tab indentation: " + raw)
            self.lines.append(raw)
        self.i = 0

    def _next_content(self):
        """Index of the next non-blank, non-comment line at or after self.i."""
        j = self.i
        while j < len(self.lines):
            stripped = _strip_comment(self.lines[j])
            if stripped.strip():
                return j
            j += 1
        return None

    def _line(self, j):
        stripped = _strip_comment(self.lines[j])
        return len(stripped) - len(stripped.lstrip(" ")), stripped.strip()

    def document(self):
        j = self._next_content()
        if j is None:
            return None
        indent, _ = self._line(j)
        value = self.block(indent)
        if self._next_content() is not None:
            raise YamlError("unexpected content at line %d" % (self._next_content() + 1))
        return value

    def block(self, indent, first=None):
        """A block node at `indent`; `first` is a virtual first line (after `- `)."""
        if first is None:
            j = self._next_content()
            _, content = self._line(j)
        else:
            content = first
        if content == "-" or content.startswith("- "):
            return self.sequence(indent, first)
        return self.mapping(indent, first)

    def sequence(self, indent, first):
        out = []
        while True:
            if first is not None:
                content, first = first, None
            else:
                j = self._next_content()
                if j is None:
                    break
                line_indent, content = self._line(j)
                if line_indent != indent or not (content == "-" or content.startswith("- ")):
                    if line_indent > indent:
                        raise YamlError("bad indentation at line %d" % (j + 1))
                    break
                self.i = j + 1
            rest = content[1:].strip()
            if not rest:
                j = self._next_content()
                child_indent, _ = self._line(j)
                if child_indent <= indent:
                    out.append(None)
                else:
                    out.append(self.block(child_indent))
            elif rest[0] not in "[{'\"" and _split_key(rest) is not None or \
                    rest[0] in "'\"" and _split_key(rest) is not None:
                out.append(self.mapping(indent + 2, rest))
            else:
                out.append(self.value(rest, indent))
        return out

    def mapping(self, indent, first):
        out = {}
        while True:
            if first is not None:
                content, first = first, None
            else:
                j = self._next_content()
                if j is None:
                    break
                line_indent, content = self._line(j)
                if line_indent != indent:
                    if line_indent > indent:
                        raise YamlError("bad indentation at line %d" % (j + 1))
                    break
                if content == "-" or content.startswith("- "):
                    break
                self.i = j + 1
            entry = _split_key(content)
            if entry is None:
                raise YamlError("expected `key: value`, got %r" % content)
            key, rest = entry
            if key in out:
                raise YamlError("duplicate key %r" % key)
            if rest:
                out[key] = self.value(rest, indent)
                continue
            j = self._next_content()
            if j is None:
                out[key] = None
                continue
            child_indent, child = self._line(j)
            if child_indent > indent or (child_indent == indent and (child == "-" or child.startswith("- "))):
                out[key] = self.block(child_indent)
            else:
                out[key] = None
        return out

    def value(self, rest, indent):
        """The value after `key: ` or `- `; may continue on following lines."""
        if rest[0] in ">|":
            return self.block_scalar(rest, indent)
        if rest[0] in "[{":
            text = rest
            while True:
                try:
                    value, end = _flow(text, 0)
                    if text[end:].strip():
                        raise YamlError("junk after flow collection: " + text)
                    return value
                except IndexError:
                    j = self._next_content()
                    if j is None:
                        raise YamlError("unterminated flow collection: " + rest)
                    text += " " + self._line(j)[1]
                    self.i = j + 1
        return _scalar(rest)

    def block_scalar(self, header, indent):
        style, chomp = header[0], header[1:].strip()
        if chomp not in ("", "-", "+"):
            raise YamlError("unsupported block scalar header: " + header)
        lines = []
        block_indent = None
        while self.i < len(self.lines):
            raw = self.lines[self.i].rstrip()
            if raw.strip():
                line_indent = len(raw) - len(raw.lstrip(" "))
                if line_indent <= indent:
                    break
                if block_indent is None:
                    block_indent = line_indent
                lines.append(raw[block_indent:])
            else:
                lines.append("")
            self.i += 1
        while lines and lines[-1] == "":
            lines.pop()
        if style == "|":
            text = "\n".join(lines)
        else:
            paragraphs, current = [], []
            for line in lines:
                if line == "":
                    paragraphs.append(" ".join(current))
                    current = []
                else:
                    current.append(line)
            paragraphs.append(" ".join(current))
            text = "\n".join(paragraphs)
        return text if chomp == "-" else text + "\n"


def load_yaml(text):
    return _Reader(text).document()


_SPEC = None


def spec():
    global _SPEC
    if _SPEC is None:
        with open(SPEC_PATH, encoding="utf-8") as f:
            _SPEC = load_yaml(f.read())
    return _SPEC


# --------------------------------------------------------------------------------------------
# JSON Schema subset

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")


def resolve(node, root=None):
    root = root or spec()
    seen = 0
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise ValueError("only local references are supported: " + ref)
        node = root
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        seen += 1
        if seen > 50:
            raise ValueError("reference loop at " + ref)
    return node


def _type_ok(value, name):
    if name == "null":
        return value is None
    if name == "boolean":
        return isinstance(value, bool)
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool) or \
            isinstance(value, float) and value.is_integer()
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if name == "string":
        return isinstance(value, str)
    if name == "array":
        return isinstance(value, list)
    if name == "object":
        return isinstance(value, dict)
    raise ValueError("unknown type " + name)


def _evaluated_names(schema, root):
    """Property names a schema (and its allOf parts) evaluates, for unevaluatedProperties."""
    schema = resolve(schema, root)
    names = set(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        names |= _evaluated_names(part, root)
    return names


def validate(value, schema, root=None, path="$"):
    """Every way `value` breaks `schema`, as a list of `path: reason` strings."""
    root = root or spec()
    schema = resolve(schema, root)
    errors = []
    for part in schema.get("allOf", []):
        errors += validate(value, part, root, path)
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_type_ok(value, t) for t in types):
            return errors + ["%s: %r is not of type %s" % (path, value, "|".join(types))]
    if "enum" in schema and value not in schema["enum"]:
        errors.append("%s: %r is not one of %r" % (path, value, schema["enum"]))
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            errors.append("%s: shorter than %d" % (path, schema["minLength"]))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append("%s: longer than %d" % (path, schema["maxLength"]))
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append("%s: %r does not match %s" % (path, value, schema["pattern"]))
        fmt = schema.get("format")
        if fmt == "uuid" and not _UUID.match(value):
            errors.append("%s: %r is not a UUID" % (path, value))
        if fmt == "date-time" and not _DATE_TIME.match(value):
            errors.append("%s: %r is not an RFC 3339 date-time" % (path, value))
        if fmt == "uri" and not _URI.match(value):
            errors.append("%s: %r is not a URI" % (path, value))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append("%s: %r is below %r" % (path, value, schema["minimum"]))
        if "maximum" in schema and value > schema["maximum"]:
            errors.append("%s: %r is above %r" % (path, value, schema["maximum"]))
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            errors.append("%s: fewer than %d items" % (path, schema["minItems"]))
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append("%s: more than %d items" % (path, schema["maxItems"]))
        if "items" in schema:
            for i, item in enumerate(value):
                errors += validate(item, schema["items"], root, "%s[%d]" % (path, i))
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                errors.append("%s: missing required property %r" % (path, name))
        properties = schema.get("properties", {})
        for name, item in value.items():
            if name in properties:
                errors += validate(item, properties[name], root, "%s.%s" % (path, name))
            elif schema.get("additionalProperties") is False:
                errors.append("%s: unexpected property %r" % (path, name))
            elif isinstance(schema.get("additionalProperties"), dict):
                errors += validate(item, schema["additionalProperties"], root, "%s.%s" % (path, name))
        if schema.get("unevaluatedProperties") is False:
            known = _evaluated_names(schema, root)
            for name in value:
                if name not in known:
                    errors.append("%s: unexpected property %r" % (path, name))
    return errors


# --------------------------------------------------------------------------------------------
# Responses


def operation(method, route):
    paths = spec()["paths"]
    if route not in paths:
        raise AssertionError("route %s is not documented" % route)
    op = paths[route].get(method.lower())
    if op is None:
        raise AssertionError("%s %s is not documented" % (method, route))
    return op


def response_problems(method, route, response):
    """Why `response` (harness.Response) does not match the document, as a list of strings."""
    op = operation(method, route)
    documented = op["responses"].get(str(response.status)) or op["responses"].get("default")
    if documented is None:
        return ["status %d is not documented for %s %s" % (response.status, method, route)]
    documented = resolve(documented)
    errors = []
    for name in documented.get("headers", {}):
        if name.lower() in ("x-request-id",) and name.lower() not in response.headers:
            errors.append("header %s is missing" % name)
    content = documented.get("content", {})
    if not content:
        return errors
    media = response.headers.get("content-type", "").split(";")[0].strip()
    if media not in content:
        return errors + ["content type %r is not documented (%s)" % (media, ", ".join(content))]
    if media.endswith("json"):
        try:
            body = json.loads(response.body)
        except ValueError as e:
            return errors + ["body is not JSON: %s" % e]
        errors += validate(body, content[media]["schema"])
    return errors


# --------------------------------------------------------------------------------------------


def main(argv):
    if len(argv) == 4 and argv[1] == "--same-as":
        with open(argv[2], encoding="utf-8") as f:
            bundled = json.load(f)
        with open(argv[3], encoding="utf-8") as f:
            ours = load_yaml(f.read())
        if ours != bundled:
            a = json.dumps(ours, indent=1, sort_keys=True).splitlines()
            b = json.dumps(bundled, indent=1, sort_keys=True).splitlines()
            import difflib
            sys.stderr.write("\n".join(difflib.unified_diff(b, a, "redocly", "openapi_check", lineterm="")))
            sys.stderr.write("\nopenapi_check reads %s differently from Redocly\n" % argv[3])
            return 1
        print("openapi_check reads %s as Redocly does" % argv[3])
        return 0
    sys.stderr.write("usage: openapi_check.py --same-as BUNDLED.json SPEC.yaml\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
