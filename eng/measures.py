#!/usr/bin/env python3
"""Issue 14's size measures over src/: source files over 600 lines, classes over 1,000 lines
(partial files summed), methods over 80 lines, and cycles between namespaces. Prints each offender
and a summary line; exits 0.

Usage: python3 eng/measures.py [-v] [src-dir]   (-v also prints which namespaces each one uses)

Methods are found by the repository's layout (Allman braces, four-space indents): a member line
ending in ')' (or a constraint/expression-free signature) followed by a '{' line at the same
indent, closed by the '}' at that indent. Lambdas and local functions count toward their method.

A namespace uses another when one of its files names a type declared only in the other (comments
and strings stripped; a name declared in two namespaces counts for neither). Namespaces are
layers when that graph has no cycle; each cycle found is printed with one file of each edge.
"""
import os
import re
import sys
from collections import defaultdict

args = [a for a in sys.argv[1:] if a != '-v']
root = args[0] if args else os.path.join(os.path.dirname(__file__), '..', 'src')
FILE_LIMIT, CLASS_LIMIT, METHOD_LIMIT = 600, 1000, 80
TYPE = re.compile(r'^(\s*)(?:(?:public|internal|private|protected|sealed|static|abstract|partial|readonly|ref|file|unsafe)\s+)*(?:class|struct|record(?:\s+struct|\s+class)?|interface)\s+(\w+)')
MEMBER = re.compile(r'^(\s+)(?!if\b|for\b|foreach\b|while\b|switch\b|using\b|lock\b|catch\b|else\b|return\b|fixed\b)[\w<>\[\],.?()\s:=!]*\b(\w+)\s*(?:<[^>]*>)?\s*\(.*\)\s*(?:where .*)?$')

files = []
for d, _, names in os.walk(root):
    if os.sep + 'bin' in d or os.sep + 'obj' in d:
        continue
    files += [os.path.join(d, n) for n in names if n.endswith('.cs')]

big_files, class_lines, long_methods = [], defaultdict(int), []
for path in sorted(files):
    lines = open(path, encoding='utf-8').read().split('\n')
    rel = os.path.relpath(path, os.path.join(root, '..'))
    if len(lines) > FILE_LIMIT:
        big_files.append((len(lines), rel))
    # the outermost type declared in the file gets the file's lines (partials sum by name)
    for line in lines:
        m = TYPE.match(line)
        if m:
            class_lines[m.group(2)] += len(lines)
            break
    for i, line in enumerate(lines[:-1]):
        m = MEMBER.match(line)
        if not m or lines[i + 1] != m.group(1) + '{' or line.strip().startswith(('//', '[')) or '=' in line.split('(')[0] or re.search(r'\b(class|struct|record|interface)\b', line.split('(')[0]):
            continue
        indent = m.group(1)
        for j in range(i + 2, len(lines)):
            if lines[j] == indent + '}':
                length = j - i + 1
                if length > METHOD_LIMIT:
                    long_methods.append((length, f'{rel}:{i + 1} {m.group(2)}'))
                break

def strip_code(text):
    text = re.sub(r'/\*.*?\*/', ' ', text, flags=re.S)
    text = re.sub(r'//[^\n]*', ' ', text)
    return re.sub(r'@?\$?"(?:[^"\\\n]|\\.)*"', '""', text)


DECLARED = re.compile(r'\b(?:class|struct|record|interface|enum|delegate\s+[\w<>\[\],.?]+)\s+(\w+)')
namespace_of, declared_in, sources = {}, defaultdict(set), {}
for path in files:
    text = strip_code(open(path, encoding='utf-8').read())
    m = re.search(r'^namespace\s+([\w.]+)', text, re.M)
    if not m:
        continue
    namespace_of[path], sources[path] = m.group(1), text
    for name in DECLARED.findall(text):
        declared_in[name].add(m.group(1))
# a type is named where it is declared with (`Zone z`, `Zone? z`, `Zone[] z`), constructed, tested,
# cast to, used as a type argument or base, or its static members are read (`Zone.X`, not `a.Zone.X`)
TYPE_USE = re.compile(r'(?<![.\w])([A-Z]\w*)(?=(?:\?|\[\])?\s+[a-z_]\w*\s*[;=,)]|\.[A-Z]|>|\s*\(\w)'
                      r'|(?:\bnew|\bis|\bas|typeof\(|<|:)\s*([A-Z]\w*)')
def type_uses(text):
    return {a or b for a, b in TYPE_USE.findall(text)}
# an assembly sees its own namespaces and those of the assemblies it references (src/<Assembly>/)
LAYERS = ['Buddy', 'Buddy.Tracing', 'Buddy.Simulation', 'Buddy.Tool']
def assembly(path):
    return os.path.relpath(path, root).split(os.sep)[0]
def visible(path, namespace):
    home = [a for a in LAYERS if namespace == a or namespace.startswith(a + '.')][-1]
    return LAYERS.index(home) <= LAYERS.index(assembly(path)) if assembly(path) in LAYERS else True
owner = {name: next(iter(spaces)) for name, spaces in declared_in.items() if len(spaces) == 1}
uses = defaultdict(dict)  # namespace -> {used namespace: a file that uses it}
for path, text in sources.items():
    ns = namespace_of[path]
    for word in type_uses(text):
        other = owner.get(word)
        if other and other != ns and visible(path, other):
            uses[ns].setdefault(other, f'{os.path.relpath(path, os.path.join(root, ".."))} ({word})')

cycles, seen = [], set()
def walk(ns, stack):
    for other in sorted(uses.get(ns, {})):
        if other in stack:
            cycle = stack[stack.index(other):] + [other]
            key = frozenset(zip(cycle, cycle[1:]))
            if key not in seen:
                seen.add(key)
                cycles.append(cycle)
        elif len(stack) < 8:
            walk(other, stack + [other])
for ns in sorted(uses):
    walk(ns, [ns])
if '-v' in sys.argv:
    for ns in sorted(uses):
        print(f'{ns} uses ' + ', '.join(sorted(uses[ns])))

big_classes = sorted(((n, c) for c, n in class_lines.items() if n > CLASS_LIMIT), reverse=True)
for title, items, limit in (('files over', sorted(big_files, reverse=True), FILE_LIMIT),
                            ('classes over', big_classes, CLASS_LIMIT),
                            ('methods over', sorted(long_methods, reverse=True), METHOD_LIMIT)):
    print(f'{title} {limit} lines: {len(items)}')
    for n, what in items:
        print(f'  {n:5d}  {what}')
print(f'namespace cycles: {len(cycles)}')
for cycle in cycles:
    print('  ' + ' -> '.join(cycle))
    for a, b in zip(cycle, cycle[1:]):
        print(f'      {a} -> {b}: {uses[a][b]}')
print(f'summary: {len(big_files)} files > {FILE_LIMIT}, {len(big_classes)} classes > {CLASS_LIMIT}, {len(long_methods)} methods > {METHOD_LIMIT} lines, {len(cycles)} namespace cycles ({len(files)} files)')
