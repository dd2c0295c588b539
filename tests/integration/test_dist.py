#!/usr/bin/python3
"""What dist/ ships, checked against the real binary (docs/OPERATIONS.md):

- the systemd unit passes `systemd-analyze verify` with no message (its
  paths pointed at the binary under test) and has the directives the
  issue names (Type=notify, WatchdogSec, LimitNOFILE, LimitMEMLOCK,
  ProtectSystem=strict, CapabilityBoundingSet with CAP_NET_BIND_SERVICE,
  NoNewPrivileges, ExecReload, a stop timeout longer than the drain);
- every edgecache_* metric the Prometheus rules and the Grafana dashboard
  use is one a running edge exports on GET /metrics; every recording rule
  the dashboard reads is defined; `promtool check rules` passes (the JSON
  parses);
- the logrotate snippet, run by logrotate itself on the logs of an edge
  that dropped to nobody (its user, paths and signal pointed at this
  test's): the old files rotated, new ones created for the user, the next
  request's line in the new access log, log_reopens 2, no failure;
- the man page renders without a groff warning and names every option,
  subcommand, signal and environment variable of `edgecache -h`.
Parts whose tool is missing (systemd-analyze, promtool, logrotate, groff)
skip, saying so; the logrotate part needs root."""
import json
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
import edgetest as et  # noqa: E402
sys.path.insert(0, HERE)
from test_privdrop import wait_dropped  # noqa: E402

SRC = os.path.abspath(os.path.join(HERE, '..', '..'))
DIST = os.path.join(SRC, 'dist')
BIN = os.path.abspath(os.environ.get('EDGECACHE_BIN') or os.path.join(SRC, 'build', 'edgecache'))
# Prometheus' own series the rules may use
PROM_OWN = {'up'}


def unit(ck):
	text = open(os.path.join(DIST, 'edgecache.service')).read()
	keys = {}
	for ln in text.splitlines():
		if '=' in ln and not ln.startswith('#'):
			k, _, v = ln.partition('=')
			keys.setdefault(k, []).append(v)
	want = {'Type': 'notify', 'WatchdogSec': None, 'LimitNOFILE': None, 'LimitMEMLOCK': None,
		'ProtectSystem': 'strict', 'NoNewPrivileges': 'yes', 'ProtectHome': 'yes',
		'PrivateTmp': 'yes', 'ExecReload': None, 'KillSignal': 'SIGTERM',
		'TimeoutStopSec': None, 'ReadWritePaths': None, 'NotifyAccess': 'all'}
	bad = {k: keys.get(k) for k, v in want.items()
	       if k not in keys or (v is not None and keys[k] != [v])}
	ck.check('the unit has %s' % ', '.join(want), not bad, bad)
	caps = keys.get('CapabilityBoundingSet', [''])[0].split()
	ck.check('CapabilityBoundingSet: CAP_NET_BIND_SERVICE and the drop\'s set*id',
		 {'CAP_NET_BIND_SERVICE', 'CAP_SETUID', 'CAP_SETGID'} <= set(caps), caps)
	stop_s = int(re.match(r'(\d+)s$', keys.get('TimeoutStopSec', ['0s'])[0]).group(1))
	ck.check('TimeoutStopSec (%d s) is longer than the default drain (10 s) plus the '
		 'checkpoint' % stop_s, stop_s >= 20)
	if not shutil.which('systemd-analyze'):
		ck.skip('systemd-analyze verify', 'systemd-analyze is not installed')
		return
	d = et.tmpdir('unit')
	path = os.path.join(d, 'edgecache.service')
	with open(path, 'w') as f:
		f.write(text.replace('/usr/sbin/edgecache', BIN))
	r = subprocess.run(['systemd-analyze', 'verify', '--man=no', path], capture_output=True,
			   timeout=60)
	out = (r.stdout + r.stderr).decode(errors='replace').strip()
	ck.check('systemd-analyze verify: exit 0, no message', r.returncode == 0 and not out, out)
	# the check can fail: a misspelt key is reported
	with open(path, 'w') as f:
		f.write(text.replace('/usr/sbin/edgecache', BIN).replace('WatchdogSec=', 'WatchdogSecs='))
	r = subprocess.run(['systemd-analyze', 'verify', '--man=no', path], capture_output=True,
			   timeout=60)
	ck.check('(and it reports a misspelt key)', b'WatchdogSecs' in r.stderr, r.stderr[-200:])


def exported(ck):
	"""The metric families a running edge exports (with a disk cache)."""
	zones = [et.zone('py', ['py.test'], [('o1', 'http://127.0.0.1:9', {})])]
	srv = et.AdminEdgecache(zones, workers=1)
	srv.cache = {'path': os.path.join(srv.dir, 'c.dat'), 'size': '64m'}
	srv.main = srv.write_config()
	srv.start()
	text = et.metrics_text(srv)
	ck.check('exit 0', srv.stop() == 0)
	return set(re.findall(r'^# TYPE (\S+) ', text, re.M))


def metrics(ck):
	names = exported(ck)
	rules = open(os.path.join(DIST, 'prometheus', 'edgecache.rules.yml')).read()
	dash_text = open(os.path.join(DIST, 'grafana', 'edgecache.json')).read()
	dash = json.loads(dash_text)
	exprs = [t['expr'] for p in dash['panels'] for t in p.get('targets', [])]
	ck.check('the dashboard parses: %d panels, %d queries, one screen (y < 25)' %
		 (len(dash['panels']), len(exprs)),
		 len(dash['panels']) >= 10 and all(p['gridPos']['y'] < 25 for p in dash['panels']))
	body = '\n'.join(ln for ln in rules.splitlines() if not ln.lstrip().startswith('#'))
	for what, text in (('rules', body), ('dashboard', '\n'.join(exprs))):
		used = set(re.findall(r'\b(edgecache_[a-z0-9_]+)', text))
		missing = sorted(used - names)
		ck.check('%s: every metric used (%d) is exported by the edge' % (what, len(used)),
			 used and not missing, missing)
	records = set(re.findall(r'^\s*- record: (\S+)', rules, re.M))
	dash_records = set(re.findall(r'\b(edgecache:[a-z0-9_:]+)', '\n'.join(exprs)))
	ck.check('every recording rule the dashboard reads is defined (%d)' % len(dash_records),
		 dash_records and dash_records <= records, sorted(dash_records - records))
	alerts = re.findall(r'^\s*- alert: (\S+)', rules, re.M)
	ck.check('alerts: %d (error rate, origin, S3 credentials, hit ratio, fills, disk, limits, '
		 'restarts, logs)' % len(alerts), len(alerts) >= 10)
	bare = set(re.findall(r'\b(?<![:_{])([a-z_]+)\{job=', body)) - PROM_OWN
	ck.check('no other bare series', not bare, bare)
	if not shutil.which('promtool'):
		ck.skip('promtool check rules', 'promtool (Debian: prometheus) is not installed')
		return
	r = subprocess.run(['promtool', 'check', 'rules',
			    os.path.join(DIST, 'prometheus', 'edgecache.rules.yml')],
			   capture_output=True, timeout=60)
	ck.check('promtool check rules: SUCCESS', r.returncode == 0 and b'SUCCESS' in r.stdout,
		 (r.stdout + r.stderr)[-300:])


def logrotate(ck):
	if not shutil.which('logrotate'):
		ck.skip('logrotate', 'logrotate is not installed')
		return
	if os.geteuid() != 0:
		ck.skip('logrotate', 'needs root (the edge drops to nobody)')
		return
	origin = et.PyOrigin()
	zones = [et.zone('py', ['py.test'], [('o1', origin.url, {})])]
	srv = et.Edgecache(zones, workers=1, user='nobody')
	os.chmod(srv.dir, 0o755)
	logs = os.path.join(srv.dir, 'logs')
	os.mkdir(logs, 0o755)           # root's, as the package makes it
	srv.access_log = srv.server['access_log'] = os.path.join(logs, 'access.log')
	srv.error_log = srv.server['error_log'] = os.path.join(logs, 'error.log')
	srv.server['counters_file'] = srv.counters_file = os.path.join(srv.dir, 'cnt', 'c.txt')
	os.mkdir(os.path.dirname(srv.counters_file))
	shutil.chown(os.path.dirname(srv.counters_file), 'nobody')
	srv.main = srv.write_config()
	srv.start()
	wait_dropped(srv)
	et.request(srv.port, 'GET', '/cc/max-age=60/100?before', host='py.test')
	conf = open(os.path.join(DIST, 'edgecache.logrotate')).read()
	ck.check('the snippet sends USR1 in postrotate and does not copytruncate',
		 re.search(r'postrotate\s.*USR1.*\sendscript', conf, re.S) and
		 not re.search(r'^\s*copytruncate', conf, re.M))
	conf = (conf.replace('/var/log/edgecache', logs)
		.replace('create 0640 edgecache adm', 'create 0640 nobody adm'))
	conf = re.sub(r'(postrotate\n).*?(\n\s*endscript)',
		      r'\g<1>\t\tkill -USR1 %d\g<2>' % srv.proc.pid, conf, flags=re.S)
	path = os.path.join(srv.dir, 'logrotate.conf')
	with open(path, 'w') as f:
		f.write(conf)
	time.sleep(0.3)                 # the line drained before the rotation
	r = subprocess.run(['logrotate', '-f', '-s', os.path.join(srv.dir, 'state'), path],
			   capture_output=True, timeout=30)
	ck.check('logrotate -f: exit 0', r.returncode == 0, r.stderr[-300:])
	et.request(srv.port, 'GET', '/cc/max-age=60/100?after', host='py.test')
	deadline = time.monotonic() + 3
	while time.monotonic() < deadline and not any('?after' in ln for ln in srv.access()):
		time.sleep(0.05)
	st = os.stat(srv.access_log)
	ck.check('rotated: the old lines in access.log.1, the next request in a new '
		 'access.log of nobody\'s',
		 any('?before' in ln for ln in et.read_log(srv.access_log + '.1')) and
		 any('?after' in ln for ln in srv.access()) and
		 not any('?before' in ln for ln in srv.access()) and
		 st.st_uid == 65534, (st.st_uid, srv.access()[-2:]))
	c = srv.counters()
	ck.check('log_reopens 2, log_reopen_failures 0',
		 c.get('log_reopens', 0) >= 2 and c.get('log_reopen_failures') == 0,
		 (c.get('log_reopens'), c.get('log_reopen_failures')))
	ck.check('exit 0', srv.stop() == 0)
	origin.stop()


def man(ck):
	page = os.path.join(DIST, 'edgecache.8')
	if not shutil.which('groff'):
		ck.skip('man page', 'groff is not installed')
		return
	r = subprocess.run(['groff', '-man', '-Tutf8', '-ww', '-z', page], capture_output=True,
			   timeout=30)
	ck.check('groff -man -ww: no warning', r.returncode == 0 and not r.stderr, r.stderr[-300:])
	text = subprocess.run(['groff', '-man', '-Tascii', '-P', '-cbou', page], capture_output=True,
			      timeout=30).stdout.decode()
	h = subprocess.run([BIN, '-h'], capture_output=True, timeout=10).stdout.decode()
	words = set()
	for ln in h.splitlines():
		m = re.match(r'^  (\S.*?)(?:\s{2,}|$)', ln)
		if m:
			words.update(w for w in re.split(r'[ ,]+', m.group(1)) if w and w != 'FILE')
	missing = sorted(w for w in words if not re.search(r'(?<![\w-])%s(?![\w-])' % re.escape(w),
							 text))
	ck.check('the man page names all %d options, subcommands, signals and variables of -h'
		 % len(words), len(words) >= 12 and not missing, missing)


def main():
	ck = et.Checks()
	ck.run('unit', unit, ck)
	ck.run('metrics', metrics, ck)
	ck.run('logrotate', logrotate, ck)
	ck.run('man', man, ck)
	ck.finish()


if __name__ == '__main__':
	main()
