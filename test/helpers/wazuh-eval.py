"""A small evaluator of Wazuh 4.x decoders and rules, written for aegisbpf's tests (no Wazuh manager runs here).

Reads one JSON object on stdin: {"decoders": [paths], "rules": [paths], "events": [log lines]} and writes one JSON
object: {"problems": [...], "patterns": [...], "results": [...]}.

What it models (from Wazuh's analysisd sources, 4.x):
- load-time checks: only the decoder and rule elements 4.x knows; a sibling child (same name as an earlier child of
  the same parent) may not carry a prematch and must have a regex or a plugin decoder; a child may not be a parent;
  `<field name>` may not name a static field ("Field 'action' is static");
- pre-decoding of the RFC 3164 header (`Mmm dd hh:mm:ss host program[pid]: message`) after remoted has removed the
  `<PRI>`; a line without that header keeps no program name;
- DecodeEvent: decoders with a program name are tried when the event has one, the others when it has none; the
  first parent whose program_name (OS_Match) and prematch (OS_Regex) match wins; its children are walked the way
  analysisd walks them (a child with a prematch is taken when it matches; regex-only siblings sharing a name are all
  run in order, `get_next`, each match adding its captures through `order`; a plugin child runs the JSON decoder);
- the JSON decoder: nested keys become dotted names, scalars strings, arrays of scalars one comma-separated string,
  a string ends at its first NUL (C strings);
  keys that are static fields (srcip, action, status, …) fill those instead of dynamic fields;
- the built-in `json` decoder (`<prematch>^{\\s*"</prematch>` + JSON_Decoder), loaded before the files given;
- rules: a tree from `if_sid`; the first root rule that matches (file order) is descended into, the first matching
  child each time, and the deepest match is the result (its id and level). Elements: decoded_as, field (OS_Regex,
  dynamic fields), match (OS_Match on the message), regex (OS_Regex on the message), action and status (OS_Match on
  the static fields), if_sid.
Every OS_Regex/OS_Match pattern is compiled and run by PyPI `wazuhregex` (a reimplementation of Wazuh's C library).

What it does not model: Wazuh's own ~4000 rules (only the files given are loaded, so a built-in rule that fires
first on the same event is not seen), if_group/if_matched_*, frequency and timeframe, lists (CDB), `accumulate`,
`fts`, `type="pcre2"`, `offset` on a regex other than after_parent, other plugin decoders, other syslog header
shapes (ISO timestamps, RFC 5424), decoder names changed by `use_own_name`, and how analysisd prints numbers larger
than 32 bits from JSON.
"""

import json
import re
import sys
import xml.etree.ElementTree as ET

import pcre2
from wazuhregex import WazuhRegex

DECODER_ELEMENTS = {
    'parent', 'program_name', 'prematch', 'regex', 'order', 'type', 'fts', 'ftscomment', 'accumulate',
    'plugin_decoder', 'use_own_name', 'json_null_field', 'json_array_structure', 'var',
}
RULE_ELEMENTS = {
    'decoded_as', 'field', 'match', 'regex', 'action', 'status', 'if_sid', 'description', 'mitre', 'group', 'options',
    'info', 'program_name', 'hostname', 'srcip', 'dstip', 'id', 'url', 'user', 'category', 'if_group', 'list',
}
# Elements the evaluator understands; anything else in RULE_ELEMENTS is reported as not modelled.
RULE_ELEMENTS_MODELLED = {'decoded_as', 'field', 'match', 'regex', 'action', 'status', 'if_sid', 'description',
                          'mitre', 'group', 'options', 'info'}
STATIC_FIELDS = {'srcuser', 'dstuser', 'user', 'srcip', 'dstip', 'srcport', 'dstport', 'protocol', 'action', 'id',
                 'url', 'data', 'extra_data', 'status', 'system_name'}
MONTHS = 'Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec'
SYSLOG_HEADER = re.compile(r'^(?:' + MONTHS + r') [ 0-9]\d \d\d:\d\d:\d\d (\S+) ([^\s\[:]+)(?:\[\d+\])?: (.*)$', re.S)

problems = []
patterns = []
compiled = {}
no_jit = {}


def pattern(where, engine, text):
    """Compile once, record compile errors (validation_errors is keyed by engine name)."""
    key = (engine, text)
    if key not in compiled:
        w = WazuhRegex(text)
        errors = w.validation_errors()
        mine = {k: v for k, v in errors.items() if k == engine}
        compiled[key] = w
        patterns.append({'where': where, 'engine': engine, 'pattern': text, 'errors': mine})
    return compiled[key]


def os_regex(w, text):
    """(matched, captures with their original case). The pattern is wazuhregex's translation of the OS_Regex
    pattern; it matches case-insensitively on a lowered copy of the text (ASCII only, so offsets are unchanged), and
    the captures are cut from the original text by offset. Run without PCRE2's JIT, whose stack is too small for a
    `\\.+` over a 4 KiB line (OS_Regex itself does not backtrack; the patterns here are written so that the result
    does not depend on it)."""
    try:
        c = w._os_regex_compile()
    except ValueError:
        return False, []  # Wazuh refuses to load it; the compile error is in `patterns`
    key = id(c)
    if key not in no_jit:
        no_jit[key] = pcre2.compile(c.pattern, flags=c.flags, jit=False)
    m = no_jit[key].search(text.translate(w._ASCII_LOWERCASE_TRANSLATION))
    if m is None:
        return False, []
    return True, [text[m.start(i):m.end(i)] for i in range(1, no_jit[key].groups + 1) if m.start(i) >= 0]


def os_match(w, text):
    ok, _ = w.os_match(text)
    return ok


def read_xml(path):
    raw = open(path, encoding='utf-8').read()
    # Wazuh files hold several top-level elements; wrap them so a standard XML parser reads them.
    try:
        return ET.fromstring('<root>' + raw + '</root>')
    except ET.ParseError as e:
        problems.append(f'{path}: not well-formed XML: {e}')
        return ET.fromstring('<root/>')


class Decoder:
    def __init__(self, path, el):
        self.name = el.get('name')
        self.where = f'{path}: decoder {self.name}'
        self.children = []
        self.get_next = False
        vals = {}
        for c in el:
            if c.tag not in DECODER_ELEMENTS:
                problems.append(f'{self.where}: unknown element <{c.tag}>')
            vals[c.tag] = c
        self.parent = vals['parent'].text if 'parent' in vals else None
        self.program_name = None
        self.prematch = None
        self.regex = None
        self.plugin = None
        self.order = []
        if 'program_name' in vals:
            self.program_name = pattern(self.where + ' program_name', 'OS_Match', vals['program_name'].text)
        if 'prematch' in vals:
            self.prematch = pattern(self.where + ' prematch', 'OS_Regex', vals['prematch'].text)
            if vals['prematch'].get('type', 'osregex') != 'osregex':
                problems.append(f'{self.where}: prematch type not modelled')
        if 'regex' in vals:
            r = vals['regex']
            self.regex = pattern(self.where + ' regex', 'OS_Regex', r.text)
            if r.get('type', 'osregex') != 'osregex' or r.get('offset') not in (None, 'after_parent'):
                problems.append(f'{self.where}: regex type/offset not modelled')
        if 'plugin_decoder' in vals:
            self.plugin = vals['plugin_decoder'].text
            if self.plugin != 'JSON_Decoder':
                problems.append(f'{self.where}: plugin {self.plugin} not modelled')
            off = vals['plugin_decoder'].get('offset')
            if off not in (None, 'after_parent', 'after_prematch'):
                problems.append(f'{self.where}: plugin_decoder offset {off!r} is not one Wazuh knows')
            if off == 'after_parent' and self.parent is None:
                problems.append(f'{self.where}: offset after_parent on a decoder without a parent')
        if 'order' in vals:
            self.order = [f.strip() for f in vals['order'].text.split(',')]
            if self.regex is not None:
                groups = len(re.findall(r'(?<!\\)\(', vals['regex'].text))
                if groups != len(self.order):
                    problems.append(f'{self.where}: {groups} capture groups but {len(self.order)} order fields')
        for tag in ('use_own_name', 'accumulate', 'fts'):
            if tag in vals:
                problems.append(f'{self.where}: <{tag}> not modelled')


def builtin_json():
    el = ET.fromstring('<decoder name="json"><prematch>^{\\s*"</prematch>'
                       '<plugin_decoder>JSON_Decoder</plugin_decoder></decoder>')
    return Decoder('(built-in 0006-json_decoders.xml)', el)


def load_decoders(paths):
    pn, nopn = [], []

    def add(d):
        if d.parent is None:
            (pn if d.program_name is not None else nopn).append(d)
            return
        parents = [p for p in pn + nopn if p.name == d.parent]
        if not parents:
            problems.append(f'{d.where}: parent {d.parent!r} not found (a child cannot be a parent)')
        for p in parents:
            for earlier in p.children:
                if earlier.name == d.name:
                    if d.prematch is not None:
                        problems.append(f'{d.where}: a sibling sharing its name may not have a prematch (PDUP_INV)')
                    if (earlier.regex or earlier.plugin) and (d.regex or d.plugin):
                        earlier.get_next = True
                    else:
                        problems.append(f'{d.where}: siblings need a regex or a plugin decoder (DUP_INV)')
            p.children.append(d)

    add(builtin_json())
    for path in paths:
        for el in read_xml(path):
            if el.tag != 'decoder':
                problems.append(f'{path}: unexpected top-level <{el.tag}>')
                continue
            add(Decoder(path, el))
    return pn, nopn


def well_formed(text):
    """A lone UTF-16 surrogate (JSON `\\ud83d` alone) cannot be UTF-8: read it as U+FFFD, as JavaScript's
    String.prototype.toWellFormed does."""
    return re.sub('[\ud800-\udfff]', '\ufffd', text)


def scalar(v):
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if v is None:
        return 'null'
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def json_decode(text, ev):
    start = text.find('{')
    if start < 0:
        return
    try:
        obj = json.loads(text[start:])
    except ValueError:
        return
    if not isinstance(obj, dict):
        return

    def walk(prefix, value):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f'{prefix}.{k}' if prefix else k, v)
        elif isinstance(value, list):
            if all(not isinstance(x, (dict, list)) for x in value):
                put(prefix, ','.join(scalar(x) for x in value))
        else:
            put(prefix, scalar(value))

    def put(key, value):
        value = well_formed(value).split('\0')[0]  # analysisd keeps C strings: a value ends at its first NUL
        if key in STATIC_FIELDS:
            ev['static'][key] = value
        else:
            ev['dynamic'][key] = value

    walk('', obj)


def put_order(ev, names, captures):
    for name, value in zip(names, captures):
        if name in STATIC_FIELDS:
            ev['static'][name] = value
        else:
            ev['dynamic'][name] = value


def decode(line, pn, nopn):
    ev = {'full': line, 'static': {}, 'dynamic': {}, 'decoder': None, 'program_name': None, 'hostname': None}
    log = re.sub(r'^<\d{1,3}>', '', line)  # remoted strips the PRI
    m = SYSLOG_HEADER.match(log)
    if m:
        ev['hostname'], ev['program_name'], log = m.group(1), m.group(2), m.group(3)
    ev['log'] = log
    for node in (pn if ev['program_name'] else nopn):
        if ev['program_name'] and not os_match(node.program_name, ev['program_name']):
            continue
        if node.prematch is not None and not os_regex(node.prematch, log)[0]:
            continue
        ev['decoder'] = node.name
        if not node.children:
            run_one(node, log, ev)
            return ev
        kids = node.children
        i = 0
        chosen = None
        while i < len(kids):
            k = kids[i]
            if k.prematch is not None:
                if os_regex(k.prematch, log)[0]:
                    chosen = i
                    break
            else:
                chosen = i
                break
            if k.get_next:
                while i < len(kids) and kids[i].get_next:
                    i += 1
                if i >= len(kids):
                    return ev
            i += 1
        if chosen is None:
            return ev
        i = chosen
        while i < len(kids):
            k = kids[i]
            ok = run_one(k, log, ev)
            if not ok and not k.get_next:
                return ev
            if not k.get_next:
                return ev
            i += 1
        return ev
    return ev


def run_one(d, log, ev):
    if d.plugin:
        json_decode(log, ev)
        return True
    if d.regex is not None:
        ok, caps = os_regex(d.regex, log)
        if not ok:
            return False
        put_order(ev, d.order, caps)
        return True
    return False


class Rule:
    def __init__(self, path, el, groups):
        self.id = el.get('id')
        self.level = int(el.get('level', '-1'))
        self.where = f'{path}: rule {self.id}'
        self.children = []
        self.checks = []
        self.if_sid = []
        self.groups = list(groups)
        self.mitre = []
        self.description = ''
        if not (self.id and self.id.isdigit()):
            problems.append(f'{self.where}: id must be a number')
        if not 0 <= self.level <= 16:
            problems.append(f'{self.where}: level must be 0-16')
        for c in el:
            if c.tag not in RULE_ELEMENTS:
                problems.append(f'{self.where}: unknown element <{c.tag}>')
                continue
            if c.tag not in RULE_ELEMENTS_MODELLED:
                problems.append(f'{self.where}: <{c.tag}> not modelled by the evaluator')
                continue
            text = (c.text or '').strip()
            if c.tag == 'if_sid':
                self.if_sid += [s.strip() for s in text.split(',') if s.strip()]
            elif c.tag == 'decoded_as':
                self.checks.append(('decoded_as', None, text))
            elif c.tag == 'field':
                name = c.get('name')
                if name in STATIC_FIELDS:
                    problems.append(f"{self.where}: Field '{name}' is static (use <{name}>)")
                if c.get('type', 'osregex') != 'osregex':
                    problems.append(f'{self.where}: field type not modelled')
                self.checks.append(('field', name, pattern(f'{self.where} field {name}', 'OS_Regex', text)))
            elif c.tag == 'regex':
                self.checks.append(('regex', None, pattern(f'{self.where} regex', 'OS_Regex', text)))
            elif c.tag in ('match', 'action', 'status'):
                self.checks.append((c.tag, None, pattern(f'{self.where} {c.tag}', 'OS_Match', text)))
            elif c.tag == 'description':
                self.description = text
            elif c.tag == 'group':
                self.groups += [g for g in text.split(',') if g]
            elif c.tag == 'mitre':
                self.mitre += [(i.text or '').strip() for i in c.findall('id')]
        if not self.description:
            problems.append(f'{self.where}: no description')

    def matches(self, ev):
        for kind, name, p in self.checks:
            if kind == 'decoded_as':
                if ev['decoder'] != p:
                    return False
            elif kind == 'field':
                v = ev['dynamic'].get(name)
                if v is None or not os_regex(p, v)[0]:
                    return False
            elif kind == 'regex':
                if not os_regex(p, ev['log'])[0]:
                    return False
            elif kind == 'match':
                if not os_match(p, ev['log']):
                    return False
            else:
                v = ev['static'].get(kind)
                if v is None or not os_match(p, v):
                    return False
        return True


def load_rules(paths):
    rules = []
    for path in paths:
        for g in read_xml(path):
            if g.tag != 'group':
                problems.append(f'{path}: unexpected top-level <{g.tag}>')
                continue
            names = g.get('name', '')
            if not names.endswith(','):
                problems.append(f'{path}: group name {names!r} must end with a comma')
            for el in g:
                if el.tag != 'rule':
                    problems.append(f'{path}: unexpected <{el.tag}> in a group')
                    continue
                rules.append(Rule(path, el, [n for n in names.split(',') if n]))
    by_id = {}
    for r in rules:
        if r.id in by_id:
            problems.append(f'{r.where}: duplicate id')
        by_id[r.id] = r
    roots = []
    for r in rules:
        if not r.if_sid:
            roots.append(r)
        for sid in r.if_sid:
            if sid not in by_id:
                problems.append(f'{r.where}: if_sid {sid} is not a loaded rule')
            else:
                by_id[sid].children.append(r)
    return roots, rules


def evaluate(roots, ev):
    def descend(rule, chain):
        for c in rule.children:
            if c.matches(ev):
                return descend(c, chain + [c.id])
        return rule, chain

    for r in roots:
        if r.matches(ev):
            rule, chain = descend(r, [r.id])
            return {'id': rule.id, 'level': rule.level, 'chain': chain, 'groups': rule.groups, 'mitre': rule.mitre,
                    'description': rule.description}
    return None


def main():
    req = json.load(sys.stdin)
    pn, nopn = load_decoders(req.get('decoders', []))
    roots, rules = load_rules(req.get('rules', []))
    results = []
    for line in req.get('events', []):
        ev = decode(well_formed(line), pn, nopn)
        results.append({
            'decoder': ev['decoder'],
            'program_name': ev['program_name'],
            'static': ev['static'],
            'dynamic': ev['dynamic'],
            'rule': evaluate(roots, ev),
        })
    rule_info = [{'id': r.id, 'level': r.level, 'groups': r.groups, 'mitre': r.mitre, 'description': r.description,
                  'if_sid': r.if_sid} for r in rules]
    json.dump({'problems': problems, 'patterns': patterns, 'results': results, 'rules': rule_info}, sys.stdout)


main()
