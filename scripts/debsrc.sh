# shellcheck shell=bash
# scripts/debsrc.sh — sourced by scripts/build-wolfssl and scripts/build-liburing.
#
# Contract: debsrc_prefix NAME VERSION HASH BUILD_FN prints (only stdout line)
# the prefix $EDGECACHE_OPT/NAME-VERSION-HASH (EDGECACHE_OPT defaults to
# /opt/edgecache, outside the repo), building it first if it does not exist:
# BUILD_FN WORK VERSION PREFIX LOG must build and stage the library into
# WORK/stage/PREFIX, logging to LOG; WORK/NAME-*/ is the unpacked source of
# Debian's package NAME=VERSION from the $DEBSRC_SUITE suite, with Debian's
# patches applied. A prefix is staged then renamed into place, so one that
# exists is complete and is reused by every later run (CI on one machine
# builds each library once per version and flags).
#
# The source comes through apt, but with a private source list, lists and
# cache under the build's temporary directory: the machine's apt
# configuration is never changed, so adding a newer suite here cannot
# switch what `apt-get source` or `apt-get install` gives anyone else.
# The suite's Release file is checked against Debian's archive keyring
# (debian-archive-keyring, which Debian 12 has with the trixie keys), and
# apt checks every source file's hash against it.

DEBSRC_SUITE=trixie
# the mirror for the private source list (EDGECACHE_DEBIAN_MIRROR: a local
# mirror that carries trixie)
DEBSRC_MIRROR=${EDGECACHE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
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

# Fetch NAME=VERSION's source package into WORK through the private apt
# configuration in WORK/apt.
debsrc_fetch() {
	local name=$1 ver=$2 work=$3 log=$4 apt=$3/apt
	local o

	mkdir -p "$apt/parts" "$apt/lists/partial" "$apt/cache/archives/partial" || return 1
	: >"$apt/none.list"
	cat >"$apt/parts/$DEBSRC_SUITE.sources" <<-EOF
		Types: deb-src
		URIs: $DEBSRC_MIRROR
		Suites: $DEBSRC_SUITE
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
	EOF
	o=(-o "Dir::Etc::SourceList=$apt/none.list" -o "Dir::Etc::SourceParts=$apt/parts"
		-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache")
	apt-get "${o[@]}" update -qq >>"$log" 2>&1 || return 1
	(cd "$work" && apt-get "${o[@]}" source -qq "$name=$ver") >>"$log" 2>&1 && return 0
	# Debian's mirrors keep only a suite's current version: a security
	# update (…+deb13u3) makes the pinned one vanish. The same upstream
	# version with Debian's newer patches is what we want then, not a
	# failed fresh set-up; BUILD-INFO records the revision built.
	local cur
	cur=$(apt-get "${o[@]}" source --print-uris -qq "$name" 2>/dev/null |
		sed -n "s/^'[^']*' ${name}_\(.*\)\.dsc .*/\1/p" | head -n 1)
	if [ -n "$cur" ] && [ "${cur%-*}" = "${ver%-*}" ]; then
		echo "$DEBSRC_SUITE has $name $cur, not the pinned $ver: building $cur" \
		     "(same upstream version; bump the pin in $0)" | tee -a "$log" >&2
		echo "$cur" >"$work/BUILT-VERSION"
		(cd "$work" && apt-get "${o[@]}" source -qq "$name=$cur") >>"$log" 2>&1 && return 0
	fi
	echo "$DEBSRC_SUITE has no source package $name=$ver, nor one of its upstream" \
	     "version (it has ${cur:-none}): pin the suite's current version in $0" >>"$log"
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
	local prefix="$DEBSRC_ROOT/$name-$ver-$hash" log t0 info err

	if [ -f "$prefix/BUILD-INFO" ]; then
		echo "$prefix"
		return 0
	fi
	command -v dpkg-buildflags >/dev/null || die "dpkg-dev missing: run scripts/setup"
	$SUDO mkdir -p "$DEBSRC_ROOT"
	# one build at a time (parallel CI runs on one machine); the loser of
	# the race finds the winner's prefix
	{ exec 9>>"$DEBSRC_ROOT/.build-$name.lock"; } 2>/dev/null ||
		exec 9>>"${TMPDIR:-/tmp}/edgecache-build-$name.lock"
	flock 9
	if [ ! -f "$prefix/BUILD-INFO" ]; then
		debsrc_work=$(mktemp -d "${TMPDIR:-/var/tmp}/edgecache-$name.XXXXXX")
		chmod 755 "$debsrc_work"    # apt's _apt user downloads into it
		log="$debsrc_work/build.log"
		err="${TMPDIR:-/tmp}/edgecache-build-$name.log"
		t0=$(date +%s)
		say "building $name $ver ($DEBSRC_SUITE) into $prefix (once per version and flags)"
		if ! (debsrc_fetch "$name" "$ver" "$debsrc_work" "$log" &&
		      "$build_fn" "$debsrc_work" "$ver" "$prefix" "$log"); then
			cp "$log" "$err" 2>/dev/null || true
			tail -n 25 "$log" >&2
			die "FAILED; full log: $err"
		fi
		info="$debsrc_work/BUILD-INFO"
		{
			echo "source:   $name $(cat "$debsrc_work/BUILT-VERSION" 2>/dev/null || echo "$ver") (apt-get source, Debian $DEBSRC_SUITE, $DEBSRC_MIRROR)"
			build_info
			echo "built:    $(date -u +%FT%TZ) on $(nproc) CPUs in $(($(date +%s) - t0)) s"
		} >"$info"
		debsrc_install "$debsrc_work/stage$prefix" "$prefix" "$info"
		say "built in $(($(date +%s) - t0)) s"
	fi
	echo "$prefix"
}
