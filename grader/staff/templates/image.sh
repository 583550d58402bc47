#!/usr/bin/env bash
# The Gradescope image, step by step: the one recipe that `python -m grader rehearse` runs in a
# root filesystem of its own and that a container image (Dockerfile) can run as it is.
#
#   image.sh base BASE DIR   (host, root) a root filesystem of BASE in DIR, from the
#                            distribution's own archive: what Gradescope's base image is
#   image.sh archive BASE    print BASE's archive URL (for a reachability check)
#   image.sh build           (inside the image, root) Gradescope's build: /autograder/source holds
#                            the unpacked autograder zip; run_autograder is copied beside it and
#                            setup.sh runs, as Gradescope's own image build does
#
# BASE: debian-12 | ubuntu-22.04 (the base images a TA can pick that setup.sh serves).
# PS1_UBUNTU_KEYRING: Ubuntu's archive keyring (default: the ubuntu-keyring package's file).
set -euo pipefail

base_suite() {       # BASE -> "suite archive components"
    case "$1" in
        debian-12) echo "bookworm http://deb.debian.org/debian main" ;;
        ubuntu-22.04) echo "jammy http://archive.ubuntu.com/ubuntu main,universe" ;;
        *) echo "image.sh: unknown base '$1' (debian-12 or ubuntu-22.04)" >&2; return 2 ;;
    esac
}

sources_list() {     # the suites an installed system of this base reads (updates, security)
    local suite=$1 archive=$2 components=${3//,/ }
    echo "deb $archive $suite $components"
    echo "deb $archive $suite-updates $components"
    case "$archive" in
        *debian*) echo "deb http://deb.debian.org/debian-security $suite-security $components" ;;
        *) echo "deb $archive $suite-security $components" ;;
    esac
}

base() {
    local name=$1 dir=$2 suite archive components keyring=()
    read -r suite archive components <<<"$(base_suite "$name")"
    case "$name" in
        ubuntu-*) keyring=(--keyring="${PS1_UBUNTU_KEYRING:-/usr/share/keyrings/ubuntu-archive-keyring.gpg}") ;;
    esac
    if [ -n "${keyring[*]}" ] && [ ! -f "${keyring[0]#--keyring=}" ]; then
        echo "image.sh: ${keyring[0]#--keyring=} is missing: apt-get install ubuntu-keyring" >&2
        return 1
    fi
    # minbase: what a container base image is (apt, bash, coreutils, passwd), plus TLS roots.
    debootstrap --variant=minbase --components="$components" --include=ca-certificates \
        "${keyring[@]}" "$suite" "$dir" "$archive"
    sources_list "$suite" "$archive" "$components" > "$dir/etc/apt/sources.list"
}

build() {
    cp /autograder/source/run_autograder /autograder/run_autograder
    chmod +x /autograder/run_autograder
    cd /autograder/source
    bash ./setup.sh
}

case "${1:-}" in
    base) base "$2" "$3" ;;
    archive) read -r _ archive _ <<<"$(base_suite "$2")"; echo "$archive" ;;
    build) build ;;
    *) echo "usage: image.sh base BASE DIR | archive BASE | build" >&2; exit 2 ;;
esac
