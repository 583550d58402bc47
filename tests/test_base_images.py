"""The autograder zip's setup.sh on every base image a TA can pick in Gradescope: it serves
Debian 12 and Ubuntu 22.04 or later with a *final* CPython 3.11, and stops at once, with one
line naming the Gradescope setting, on a base image it cannot serve. Its decisions run here
against fake /etc/os-release files and fake interpreters (the real builds: rehearse.py)."""
import subprocess
from pathlib import Path

import pytest

from grader.staff.build import TEMPLATES

SETUP = TEMPLATES / "gradescope_setup.sh"
SETTING = "Configure Autograder > Base Image"

OS_RELEASES = {
    "ubuntu-18.04": 'NAME="Ubuntu"\nID=ubuntu\nVERSION_ID="18.04"\nPRETTY_NAME="Ubuntu 18.04.6 LTS"\n',
    "ubuntu-20.04": 'ID=ubuntu\nVERSION_ID="20.04"\nPRETTY_NAME="Ubuntu 20.04.6 LTS"\n',
    "ubuntu-22.04": 'ID=ubuntu\nVERSION_ID="22.04"\nPRETTY_NAME="Ubuntu 22.04.5 LTS"\n',
    "ubuntu-24.04": 'ID=ubuntu\nVERSION_ID="24.04"\nPRETTY_NAME="Ubuntu 24.04.1 LTS"\n',
    "debian-11": 'ID=debian\nVERSION_ID="11"\nPRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\n',
    "debian-12": 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n',
    "fedora-40": 'ID=fedora\nVERSION_ID=40\nPRETTY_NAME="Fedora Linux 40 (Container Image)"\n',
    "rocky-9": 'ID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.3"\nPRETTY_NAME="Rocky Linux 9.3"\n',
}
SERVED = {"ubuntu-22.04", "ubuntu-24.04", "debian-12"}


def _bash(script: str, *args: str) -> subprocess.CompletedProcess:
    """Run `script` with setup.sh's functions sourced (not its installation)."""
    return subprocess.run(["bash", "-c", f'source "{SETUP}"; {script}', "test", *args],
                          capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("image", sorted(OS_RELEASES))
def test_base_image_served_or_refused_in_one_line(image, tmp_path):
    os_release = tmp_path / "os-release"
    os_release.write_text(OS_RELEASES[image])
    done = _bash('base_image_refusal "$1" yes', str(os_release))
    assert done.returncode == 0, done.stderr
    if image in SERVED:
        assert done.stdout == ""
    else:
        pretty = OS_RELEASES[image].split("PRETTY_NAME=")[1].strip().strip('"')
        assert done.stdout.count("\n") == 1 and SETTING in done.stdout and pretty in done.stdout


def test_an_image_without_apt_is_refused(tmp_path):
    os_release = tmp_path / "os-release"
    os_release.write_text(OS_RELEASES["ubuntu-22.04"])
    assert SETTING in _bash('base_image_refusal "$1" no', str(os_release)).stdout
    assert SETTING in _bash('base_image_refusal "$1" yes', str(tmp_path / "missing")).stdout


@pytest.mark.parametrize("release, final", [
    ("3 11 2 final", True), ("3 11 0 candidate", False), ("3 11 0 beta", False),
    ("3 10 12 final", False), ("3 12 3 final", False), ("", False)])
def test_only_a_final_311_is_accepted(release, final):
    assert (_bash('final_311 "$1"', release).returncode == 0) is final


def test_the_interpreter_is_asked_its_release(tmp_path):
    fake = tmp_path / "python3.11"
    fake.write_text("#!/bin/sh\necho 3 11 0 candidate\n")  # Ubuntu 22.04's own python3.11
    fake.chmod(0o755)
    done = _bash('python_release "$1"; final_311 "$(python_release "$1")"', str(fake))
    assert done.stdout == "3 11 0 candidate\n" and done.returncode == 1
    assert _bash('python_release "$1"', str(tmp_path / "absent")).stdout == ""


def test_an_unservable_image_stops_before_apt(tmp_path):
    """install_python on Ubuntu 20.04 stops with the one line; apt-get is never called."""
    os_release = tmp_path / "os-release"
    os_release.write_text(OS_RELEASES["ubuntu-20.04"])
    called = tmp_path / "apt-called"
    fake_apt = tmp_path / "bin" / "apt-get"
    fake_apt.parent.mkdir()
    fake_apt.write_text(f"#!/bin/sh\ntouch {called}\n")
    fake_apt.chmod(0o755)
    done = _bash(f'PATH="{fake_apt.parent}:$PATH" PS1_OS_RELEASE="$1" install_python',
                 str(os_release))
    assert done.returncode == 1 and not called.exists()
    assert done.stderr.count("\n") == 1 and SETTING in done.stderr


def _fake_system(tmp_path, ppa_works: bool) -> Path:
    """Ubuntu 22.04 with fake apt-get, add-apt-repository and python3.11: the archive's is the
    release candidate; after the PPA is added (when it works) python3.11 is a final 3.11.13."""
    tools = tmp_path / "bin"
    tools.mkdir()
    added = tmp_path / "ppa-added"
    scripts = {
        "apt-get": "exit 0",
        "add-apt-repository": f"touch {added}" if ppa_works else "echo 'cannot reach launchpad' >&2; exit 1",
        "python3.11": f'if [ -e {added} ]; then echo 3 11 13 final; else echo 3 11 0 candidate; fi',
    }
    for name, body in scripts.items():
        (tools / name).write_text(f"#!/bin/sh\n{body}\n")
        (tools / name).chmod(0o755)
    (tmp_path / "os-release").write_text(OS_RELEASES["ubuntu-22.04"])
    return tools


@pytest.mark.parametrize("ppa_works", [True, False])
def test_ubuntu_2204_gets_a_final_311_from_deadsnakes_or_stops_in_one_line(tmp_path, ppa_works):
    tools = _fake_system(tmp_path, ppa_works)
    done = _bash(f'PATH="{tools}:$PATH" PS1_OS_RELEASE="$1" install_python && echo installed',
                 str(tmp_path / "os-release"))
    assert "3 11 0 candidate" in done.stderr  # why the PPA was needed
    if ppa_works:
        assert done.returncode == 0 and done.stdout.endswith("installed\n")
    else:
        assert done.returncode == 1
        last = done.stderr.splitlines()[-1]  # measured on the real jammy image: this line
        assert last.startswith("setup.sh: no final Python 3.11") and "3 11 0 candidate" in last
        assert "deadsnakes PPA could not be used" in last and "Update Autograder" in last
