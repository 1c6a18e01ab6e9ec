#!/usr/bin/env python3
"""Issue 14's size measures over src/: source files over 600 lines, classes over 1,000 lines
(partial files summed), methods over 80 lines. Prints each offender and a summary line; exits 0.

Usage: python3 eng/measures.py [src-dir]

Methods are found by the repository's layout (Allman braces, four-space indents): a member line
ending in ')' (or a constraint/expression-free signature) followed by a '{' line at the same
indent, closed by the '}' at that indent. Lambdas and local functions count toward their method.
"""
import os
import re
import sys
from collections import defaultdict

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..', 'src')
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

big_classes = sorted(((n, c) for c, n in class_lines.items() if n > CLASS_LIMIT), reverse=True)
for title, items, limit in (('files over', sorted(big_files, reverse=True), FILE_LIMIT),
                            ('classes over', big_classes, CLASS_LIMIT),
                            ('methods over', sorted(long_methods, reverse=True), METHOD_LIMIT)):
    print(f'{title} {limit} lines: {len(items)}')
    for n, what in items:
        print(f'  {n:5d}  {what}')
print(f'summary: {len(big_files)} files > {FILE_LIMIT}, {len(big_classes)} classes > {CLASS_LIMIT}, {len(long_methods)} methods > {METHOD_LIMIT} lines ({len(files)} files)')
