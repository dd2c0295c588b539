#!/usr/bin/python3
"""tests/integration/test_layers.py — the include graph keeps the layers.

Reads every `#include "…"` of the files under core/ net/ cache/ sigv4/
edge/ control/ (no binary needed) and fails, naming file and line, when
  (a) a file includes a folder above its layer: core → core only; net,
      cache, sigv4 → core and their own folder (peers never include each
      other); edge → core, net, cache, sigv4, edge; control → anything;
  (b) the include graph has a cycle between files, or a cycle between
      modules (a .c, its .h and its _int.h as one) that crosses folders:
      core/shard.h including net/visitor.h while net/visitor.c includes
      core/shard.h is the "circle across two floors" of issue 11. Each
      cycle is printed edge by edge. Module cycles inside one folder
      (two modules of a layer calling each other) are printed as notes;
      they fail nothing;
  (c) an include names a file that does not exist;
  (d) a header in those folders does not start with a comment naming its
      own path (`/*` then ` * net/http1.h — what it is`): a header moved
      without its comment still claims its old place.
An include resolves as the compiler does here: beside the including file
first, then from the source root (meson's only include directory).

Before the tree, the checker runs on a small tree made in a temp dir with
one planted fault of each kind and some allowed includes: it must find
exactly the planted ones, so a clean tree means a clean tree.

    /usr/bin/python3 tests/integration/test_layers.py [ROOT]
ROOT (or $LAYERS_ROOT) is the source tree to check, read only; default:
the tree this file is in.
"""
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import edgetest as et  # noqa: E402

LAYERS = ('core', 'net', 'cache', 'sigv4', 'edge', 'control')
# What each layer may include (None: anything). A folder not listed here
# (or a file at the root) is outside the layers: only control may.
MAY_INCLUDE = {
	'core': {'core'},
	'net': {'core', 'net'},
	'cache': {'core', 'cache'},
	'sigv4': {'core', 'sigv4'},
	'edge': {'core', 'net', 'cache', 'sigv4', 'edge'},
	'control': None,
}
SOURCE_EXT = ('.c', '.h')
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')


def layer_of(rel):
	top = rel.split('/', 1)[0]
	return top if top in LAYERS and '/' in rel else None


def read_lines(root, rel):
	with open(os.path.join(root, rel), encoding='utf-8', errors='replace') as f:
		return f.read().split('\n')


def resolve(root, rel, name):
	"""The root-relative path `#include "name"` in rel opens, or None."""
	for cand in (os.path.join(os.path.dirname(rel), name), name):
		cand = os.path.normpath(cand).replace(os.sep, '/')
		if not cand.startswith('../') and os.path.isfile(os.path.join(root, cand)):
			return cand
	return None


def scan(root):
	"""-> (files, edges, missing): every .c/.h under the layers' folders
	(and any other file they include from there), edges[file] = [(line,
	target)], missing = [(file, line, name)] for includes found nowhere."""
	todo = []
	for top in LAYERS:
		for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
			dirnames.sort()
			for fn in sorted(filenames):
				if fn.endswith(SOURCE_EXT):
					todo.append(os.path.relpath(os.path.join(dirpath, fn), root).replace(os.sep, '/'))
	files, edges, missing = set(todo), {}, []
	while todo:
		rel = todo.pop()
		edges[rel] = []
		for n, line in enumerate(read_lines(root, rel), 1):
			m = INCLUDE.match(line)
			if not m:
				continue
			target = resolve(root, rel, m.group(1))
			if target is None:
				missing.append((rel, n, m.group(1)))
				continue
			edges[rel].append((n, target))
			# a .def or .inc pulled in from a layer is part of the graph too
			if target not in files and layer_of(target):
				files.add(target)
				todo.append(target)
	return files, edges, missing


def layer_faults(edges):
	out = []
	for rel in sorted(edges):
		own = layer_of(rel)
		may = MAY_INCLUDE[own]
		if may is None:
			continue
		for n, target in edges[rel]:
			tl = layer_of(target)
			if tl not in may:
				what = '%s/' % tl if tl else 'outside the layers'
				out.append((rel, n, '%s (%s) includes %s — %s, which %s may not include'
					    % (rel, own, target, what, own)))
	return out


def sccs(nodes, succ):
	"""Tarjan's strongly connected components, iterative."""
	index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
	for start in sorted(nodes):
		if start in index:
			continue
		work = [(start, iter(succ.get(start, ())))]
		index[start] = low[start] = counter[0]
		counter[0] += 1
		stack.append(start)
		on.add(start)
		while work:
			v, it = work[-1]
			advanced = False
			for w in it:
				if w not in index:
					index[w] = low[w] = counter[0]
					counter[0] += 1
					stack.append(w)
					on.add(w)
					work.append((w, iter(succ.get(w, ()))))
					advanced = True
					break
				if w in on:
					low[v] = min(low[v], index[w])
			if advanced:
				continue
			work.pop()
			if work:
				low[work[-1][0]] = min(low[work[-1][0]], low[v])
			if low[v] == index[v]:
				comp = []
				while True:
					w = stack.pop()
					on.discard(w)
					comp.append(w)
					if w == v:
						break
				out.append(sorted(comp))
	return out


def shortest_cycle(start, members, g):
	"""The shortest path start → … → start inside one component, as the
	labels of its edges ("file:line → the file it includes")."""
	prev, frontier, seen = {}, [start], {start}
	while frontier:
		nxt = []
		for v in frontier:
			for label, w in g.get(v, ()):
				if w not in members:
					continue
				if w == start:
					path = [label]
					while v != start:
						v, lb = prev[v]
						path.append(lb)
					return list(reversed(path))
				if w not in seen:
					seen.add(w)
					prev[w] = (v, label)
					nxt.append(w)
		frontier = nxt
	return []


def module_of(rel):
	"""x.c, x.h and x_int.h are one module."""
	stem = rel.rsplit('.', 1)[0]
	return stem[:-4] if stem.endswith('_int') else stem


def cycle_faults(edges, node_of=None):
	"""Cycles of the include graph: between files (node_of None), or
	between modules (an include inside one module is no edge)."""
	g = {}
	for rel, es in edges.items():
		a = node_of(rel) if node_of else rel
		g.setdefault(a, [])
		for n, target in es:
			b = node_of(target) if node_of else target
			if node_of is None or b != a:
				g[a].append(('%s:%d → %s' % (rel, n, target), b))
	succ = {v: sorted({w for _, w in es}) for v, es in g.items()}
	noun = 'modules (a .c, its .h and its _int.h are one)' if node_of else 'files'
	out = []   # (first member, 0, text, folders it spans)
	for comp in sccs(set(g), succ):
		members = set(comp)
		if len(comp) == 1 and comp[0] not in succ.get(comp[0], ()):
			continue
		lines = ['a cycle of %d %s: %s' % (len(comp), noun, ' '.join(comp))]
		shown = set()
		for start in comp:
			cyc = shortest_cycle(start, members, g)
			if frozenset(cyc) in shown:
				continue
			shown.add(frozenset(cyc))
			lines.append('    ' + '; '.join(cyc))
		out.append((comp[0], 0, '\n'.join(lines), {m.split('/', 1)[0] for m in comp}))
	return out


def header_faults(root, files):
	out = []
	for rel in sorted(f for f in files if f.endswith('.h')):
		lines = read_lines(root, rel)
		first = lines[0] if lines else ''
		second = lines[1] if len(lines) > 1 else ''
		if first.rstrip() == '/*' and second.startswith(' * %s — ' % rel):
			continue
		m = re.match(r' \* (\S+) — ', second) if first.rstrip() == '/*' else None
		if m:
			out.append((rel, 2, '%s: its comment names %s, not its own path' % (rel, m.group(1))))
		else:
			out.append((rel, 1, '%s: does not start with "/*" then " * %s — what it owns"'
				    % (rel, rel)))
	return out


def check_tree(root):
	"""-> {rule: [(file, line, message)]} for each rule (line 0: a cycle),
	plus 'files' and 'edges' as read."""
	files, edges, missing = scan(root)
	mods = cycle_faults(edges, module_of)
	return {
		'layer': layer_faults(edges),
		'cycle': [f[:3] for f in cycle_faults(edges)],
		'module cycle': [f[:3] for f in mods if len(f[3]) > 1],
		'module cycle inside a folder': [f[:3] for f in mods if len(f[3]) == 1],
		'missing': [(rel, n, '%s includes "%s": no such file beside it or under the root'
			     % (rel, name)) for rel, n, name in missing],
		'header': header_faults(root, files),
		'files': files,
		'edges': edges,
	}


# ---- the checker on a planted tree ------------------------------------------

def hdr(path, body=''):
	return '/*\n * %s — a planted file.\n */\n%s' % (path, body)


PLANTED = {
	'core/a.h': hdr('core/a.h', '#include "core/b.h"\n'),              # allowed
	'core/b.h': hdr('core/b.h', '#include <stdio.h>\n#include "net/n.h"\n'),  # (a) line 5
	'net/n.h': hdr('net/n.h', '#include "core/b.h"\n'),                # closes the cycle
	'net/n.c': '#include "net/n.h"\n#include "cache/c.h"\n',           # (a) peer, line 2
	'net/m.c': '#include "m_local.h"\n',                               # beside it: allowed
	'net/m_local.h': hdr('net/m_local.h'),
	'cache/c.h': hdr('cache/old.h'),                                   # (d) names another path
	'sigv4/s.h': '/* sigv4/s.h — all on one line */\n',               # (d) wrong shape
	'sigv4/s.c': '#include "sigv4/s.h"\n\n#include "sigv4/gone.h"\n',  # (c) line 3
	'edge/e.h': hdr('edge/e.h', '#include "control/x.h"\n'),           # (a) line 4
	'edge/e.c': ('#include "core/a.h"\n#include "net/n.h"\n#include "cache/c.h"\n'
		     '#include "sigv4/s.h"\n#include "edge/e.h"\n'),        # allowed
	'control/x.h': hdr('control/x.h', '#include "top.h"\n'),           # anything
	'control/x.c': '#include "edge/e.h"\n#include "control/x.h"\n',
	'top.h': '',
	'core/d.c': '  #  include "core/d.h"\n',                          # (c) line 1, spacing
	'core/t.c': '#include "tests/t.h"\n',                              # (a) outside the layers
	'tests/t.h': '',
	'cache/c.c': '#include "cache/list.def"\n',                       # allowed
	'cache/list.def': '#include "net/n.h"\n',                         # (a): a .def is read too
	'cache/c_int.h': hdr('cache/c_int.h', '#include "cache/c.h"\n'),  # inside module cache/c
	'cache/c_int.c': '#include "cache/c_int.h"\n',
	'core/p.h': hdr('core/p.h'), 'core/q.h': hdr('core/q.h'),          # modules p and q call
	'core/p.c': '#include "core/p.h"\n#include "core/q.h"\n',         # each other: a module
	'core/q.c': '#include "core/q.h"\n#include "core/p.h"\n',         # cycle, no file cycle
}
EXPECTED = {
	'layer': {('core/b.h', 5), ('net/n.c', 2), ('edge/e.h', 4), ('core/t.c', 1),
		  ('cache/list.def', 1)},
	'missing': {('sigv4/s.c', 3), ('core/d.c', 1)},
	'header': {('cache/c.h', 2), ('sigv4/s.h', 1)},
}


def self_test(c):
	with tempfile.TemporaryDirectory(prefix='edgecache-layers.') as root:
		for rel, text in PLANTED.items():
			os.makedirs(os.path.join(root, os.path.dirname(rel)), exist_ok=True)
			with open(os.path.join(root, rel), 'w') as f:
				f.write(text)
		got = check_tree(root)
	for kind, want in EXPECTED.items():
		have = {(f, n) for f, n, _ in got[kind]}
		c.check('planted tree: the %s rule finds exactly the planted faults' % kind,
			have == want, 'found %s, planted %s' % (sorted(have), sorted(want)))
	cyc = got['cycle']
	c.check('planted tree: the one planted cycle is found and printed with its lines',
		len(cyc) == 1 and 'core/b.h:5 → net/n.h; net/n.h:4 → core/b.h' in cyc[0][2], repr(cyc))
	def members(kind):
		return {frozenset(f[2].split('\n')[0].split(': ')[1].split()) for f in got[kind]}
	cross = members('module cycle')
	want = {frozenset(('core/b', 'net/n', 'cache/c', 'cache/list')), frozenset(('edge/e', 'control/x'))}
	c.check('planted tree: module cycles across folders found, none inside a module (x.c, x.h, x_int.h)',
		cross == want, 'found %s' % sorted(sorted(m) for m in cross))
	inside = members('module cycle inside a folder')
	c.check('planted tree: a module cycle inside one folder is a note, not a fault',
		inside == {frozenset(('core/p', 'core/q'))}, 'found %s' % sorted(sorted(m) for m in inside))
	c.check('planted tree: files only reached by an include are scanned',
		'cache/list.def' in got['edges'] and 'top.h' not in got['files'], sorted(got['files']))


def report(c, name, faults):
	for rel, n, msg in faults:
		print('%s:%d: %s' % (rel, n, msg) if n else '%s: %s' % (rel, msg), flush=True)
	c.check(name, not faults, '(%d above)' % len(faults))


def main():
	root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.environ.get(
		'LAYERS_ROOT', os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')))
	c = et.Checks()
	c.run('the checker on a planted tree', self_test, c)
	present = [t for t in LAYERS if os.path.isdir(os.path.join(root, t))]
	if 'core' not in present:
		c.check('the tree to check has core/', False, root)
		c.finish()
	got = check_tree(root)
	n_inc = sum(len(e) for e in got['edges'].values()) + len(got['missing'])
	print('--- %s: %d files, %d includes in %s (absent: %s)' % (
		root, len(got['files']), n_inc, ' '.join(present),
		' '.join(t for t in LAYERS if t not in present) or 'none'), flush=True)
	report(c, 'no file includes a folder above its layer', got['layer'])
	report(c, 'the include graph of files has no cycle', got['cycle'])
	report(c, 'no cycle of modules crosses a folder', got['module cycle'])
	for rel, n, msg in got['module cycle inside a folder']:
		print('note: %s: %s' % (rel, msg), flush=True)
	report(c, 'every include names a file that exists', got['missing'])
	report(c, 'every header starts with a comment naming its own path', got['header'])
	c.finish()


if __name__ == '__main__':
	main()
