# shellcheck shell=bash
# scripts/debsrc.sh — sourced by scripts/build-wolfssl and scripts/build-liburing.
#
# Contract: debsrc_prefix NAME VERSION HASH BUILD_FN prints (only stdout line)
# the prefix $EDGECACHE_OPT/NAME-<revision>-HASH (EDGECACHE_OPT defaults to
# /opt/edgecache, outside the repo) that holds NAME's Debian revision
# <revision>, building it first if it does not exist: BUILD_FN WORK VERSION
# PREFIX LOG must build and stage the library into WORK/stage/PREFIX,
# logging to LOG; WORK/NAME-*/ is the unpacked source of Debian's package
# NAME=VERSION from the $DEBSRC_SUITE suite (or its security suite), with
# Debian's patches applied. <revision> is the pinned VERSION; only when the
# suites no longer carry it (a security update superseded it) is it the
# suites' newer revision of the same upstream version, said on stderr. A
# prefix is staged then renamed into place, so one that exists is complete
# and is reused by every later run (CI on one machine builds each library
# once per revision and flags); the pinned one is found without the network.
#
# The source comes through apt, but with a private source list, lists and
# cache under the build's temporary directory: the machine's apt
# configuration is never changed, so adding a newer suite here cannot
# switch what `apt-get source` or `apt-get install` gives anyone else.
# Both suites' Release files are checked against Debian's archive keyring
# (debian-archive-keyring, which Debian 12 has with the trixie keys), apt
# checks every source file's hash against them, and an unsigned or
# unauthenticated source is refused outright.

DEBSRC_SUITE=trixie
# the mirror for the private source list (EDGECACHE_DEBIAN_MIRROR: a local
# mirror that carries trixie)
DEBSRC_MIRROR=${EDGECACHE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# security updates reach trixie-security days before a point release
# brings them to the mirror; deb.debian.org serves it too, the host a
# Debian 12 machine's own debian.sources already uses for bookworm-security
DEBSRC_SECURITY_MIRROR=${EDGECACHE_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
DEBSRC_ROOT=${EDGECACHE_OPT:-/opt/edgecache}
SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo

say() { echo "$(basename "$0"): $*" >&2; }
die() { say "$*"; exit 1; }

# Debian's compiler and linker flags for the given DEB_BUILD_MAINT_OPTIONS,
# as debian/rules sets them. They map the current directory away
# (-ffile-prefix-map=$PWD=.): the build asks from its source tree, a
# prefix's hash from / so that it is stable.
deb_buildflags() {
	DEB_BUILD_MAINT_OPTIONS=$1 dpkg-buildflags --export=configure
}

# Set up the private apt configuration in WORK/apt (its apt-get options
# in debsrc_apt) and fetch the suites' source indexes.
debsrc_apt=()
debsrc_update() {
	local log=$2 apt=$1/apt

	mkdir -p "$apt/parts" "$apt/lists/partial" "$apt/cache/archives/partial" || return 1
	: >"$apt/none.list"
	cat >"$apt/parts/$DEBSRC_SUITE.sources" <<-EOF
		Types: deb-src
		URIs: $DEBSRC_MIRROR
		Suites: $DEBSRC_SUITE
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

		Types: deb-src
		URIs: $DEBSRC_SECURITY_MIRROR
		Suites: $DEBSRC_SUITE-security
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
	EOF
	debsrc_apt=(-o "Dir::Etc::SourceList=$apt/none.list" -o "Dir::Etc::SourceParts=$apt/parts"
		-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
		-o Acquire::AllowInsecureRepositories=false
		-o Acquire::AllowDowngradeToInsecureRepositories=false
		-o APT::Get::AllowUnauthenticated=false)
	apt-get "${debsrc_apt[@]}" update -qq >>"$log" 2>&1
}

# Print the revision of NAME to build: the pinned VER if the suites still
# carry it, else their newest revision of VER's upstream version. Debian
# keeps only a suite's current revision: a security update (…+deb13u3)
# makes the pinned one vanish, and the same upstream version with Debian's
# newer patches is what we want then, not a failed fresh set-up.
debsrc_pick() {
	local name=$1 ver=$2 log=$3 cur

	if apt-get "${debsrc_apt[@]}" source --print-uris -qq "$name=$ver" >/dev/null 2>&1; then
		echo "$ver"
		return 0
	fi
	cur=$(apt-get "${debsrc_apt[@]}" source --print-uris -qq "$name" 2>/dev/null |
		sed -n "s/^'[^']*' ${name}_\(.*\)\.dsc .*/\1/p" | head -n 1)
	if [ -n "$cur" ] && [ "${cur%-*}" = "${ver%-*}" ] && dpkg --compare-versions "$cur" gt "$ver"; then
		say "$DEBSRC_SUITE has $name $cur, not the pinned $ver: using $cur" \
		    "(same upstream version; bump the pin in $0)"
		echo "$cur"
		return 0
	fi
	echo "$DEBSRC_SUITE has no source package $name=$ver, nor a newer revision of its" \
	     "upstream version (it has ${cur:-none}): pin the suite's current version in $0" >>"$log"
	return 1
}

# Copy the staged tree next to its final place, then rename it there.
debsrc_install() {
	local staged=$1 prefix=$2 info=$3
	local tmp="$prefix.partial.$$"

	$SUDO rm -rf "$tmp"
	$SUDO cp -a "$staged" "$tmp"
	$SUDO cp "$info" "$tmp/BUILD-INFO"
	$SUDO mv -T "$tmp" "$prefix"
}

debsrc_work=
trap '[ -z "$debsrc_work" ] || rm -rf "$debsrc_work"' EXIT
trap 'exit 1' INT TERM HUP    # so that the EXIT trap cleans up then too

debsrc_prefix() {
	local name=$1 ver=$2 hash=$3 build_fn=$4
	local prefix="$DEBSRC_ROOT/$name-$ver-$hash" lock log t0 info err got

	if [ -f "$prefix/BUILD-INFO" ]; then
		echo "$prefix"
		return 0
	fi
	command -v dpkg-buildflags >/dev/null || die "dpkg-dev missing: run scripts/setup"
	$SUDO mkdir -p "$DEBSRC_ROOT"
	# one build at a time (parallel CI runs on one machine); the loser of
	# the race finds the winner's prefix
	lock="$DEBSRC_ROOT/.build-$name.lock"
	{ exec 9>>"$lock"; } 2>/dev/null || {
		lock="${TMPDIR:-/tmp}/edgecache-build-$name.lock"
		exec 9>>"$lock"
	}
	flock -n 9 || {
		say "waiting (up to 30 min) for another build of $name to finish (lock $lock)"
		flock -w 1800 9 || die "another build of $name held $lock for 30 min: is it stuck?"
	}
	if [ -f "$prefix/BUILD-INFO" ]; then
		echo "$prefix"
		return 0
	fi
	debsrc_work=$(mktemp -d "${TMPDIR:-/var/tmp}/edgecache-$name.XXXXXX")
	chmod 755 "$debsrc_work"    # apt's _apt user downloads into it
	log="$debsrc_work/build.log"
	err="${TMPDIR:-/tmp}/edgecache-build-$name.log"
	fail() {
		cp "$log" "$err" 2>/dev/null || true
		tail -n 25 "$log" >&2
		die "FAILED; full log: $err"
	}
	t0=$(date +%s)
	debsrc_update "$debsrc_work" "$log" || fail
	got=$(debsrc_pick "$name" "$ver" "$log") || fail
	if [ "$got" != "$ver" ]; then
		# the prefix is named by the revision it holds
		prefix="$DEBSRC_ROOT/$name-$got-$hash"
		if [ -f "$prefix/BUILD-INFO" ]; then
			say "using $prefix"
			echo "$prefix"
			return 0
		fi
	fi
	say "building $name $got ($DEBSRC_SUITE) into $prefix (once per revision and flags)"
	(cd "$debsrc_work" && apt-get "${debsrc_apt[@]}" source -qq "$name=$got") \
		>>"$log" 2>&1 || fail
	("$build_fn" "$debsrc_work" "$got" "$prefix" "$log") || fail
	info="$debsrc_work/BUILD-INFO"
	{
		echo "source:   $name $got (apt-get source, Debian $DEBSRC_SUITE, $DEBSRC_MIRROR $DEBSRC_SECURITY_MIRROR)"
		build_info
		echo "built:    $(date -u +%FT%TZ) on $(nproc) CPUs in $(($(date +%s) - t0)) s"
	} >"$info"
	debsrc_install "$debsrc_work/stage$prefix" "$prefix" "$info"
	say "built in $(($(date +%s) - t0)) s"
	echo "$prefix"
}
