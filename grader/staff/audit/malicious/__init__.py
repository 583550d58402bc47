"""Malicious submissions: a copy of reference/ with an attack added (at import or inside one
graded function), plus extra files. Each case states its honest score: the points its correct
code earns, i.e. 45 (40 and the 5 extra-credit points: attention.py is in the copy) minus the
parts its attack breaks (`lost`), an explicit `score`, or, for a case that hides a mistake
(`wrong`), the score of that wrong code graded without the attack.

Attacks never know the canary: they exfiltrate whatever they manage to read (into an exception
message, which reaches results.json, and to stdout). The runner checks that no output holds
the canary planted in reference/ and tests_hidden/ (and in the judge's environment).
"""
from dataclasses import dataclass, field

from . import attacks as A
from . import forgeries as F
from . import leaks as L
from . import syscalls as S


@dataclass(frozen=True)
class Case:
    name: str
    expect: str                    # the expected behaviour, in words
    inject: tuple = ()             # ((module file, where, code), ...) where: "import" or a part
    extra: dict = field(default_factory=dict)   # extra files shipped in the upload
    lost: tuple = ()               # parts whose points the honest score loses entirely
    failing: tuple = ()            # test ids (or their prefixes) whose points it loses too
    score: float | None = None     # explicit honest score (overrides `lost`)
    replace: dict = field(default_factory=dict)  # module file -> full text (no reference copy)
    checks: tuple = ()             # extra named checks (see runner)
    wrong: tuple = ()              # ((module file, old, new), ...) a mistake beside the attack:
                                   # the honest score is that of this wrong code, attack-free
    upload: str = "zip"            # "zip", or "folder": uploaded as a folder, as it is
    docker: bool = False           # graded under Docker's default-profile refusals
                                   # (seccomp.docker_like): the sweep path, as on Gradescope


CASES = [
    Case("forge_results_json", "EACCES on results.json (and its folder); honest score 40",
         inject=(("probability.py", "import", A.FORGE_RESULTS),)),
    Case("edit_harness_files", "run_autograder, grader/*.py, tests, reference unwritable; "
         "harness unchanged; score 40", inject=(("probability.py", "import", A.EDIT_HARNESS),),
         checks=("harness_unchanged",)),
    Case("closefds_exit_at_import", "sampling tests fail (no result); others unaffected",
         inject=(("sampling.py", "import", "import os as _o\n_o.closerange(0, 4096)\nexit(0)\n"),),
         lost=("4a", "4b")),
    Case("os_exit_in_function", "kl_divergence tests fail 'exited'; run continues",
         inject=(("probability.py", "1a", "import os; os._exit(0)\n"),), lost=("1a",)),
    Case("system_exit_in_function", "bits_per_dim tests fail; run continues",
         inject=(("probability.py", "1d", "raise SystemExit(0)\n"),), lost=("1d",)),
    Case("keyboard_interrupt_in_function", "nll tests fail; run continues",
         inject=(("probability.py", "1c", "raise KeyboardInterrupt\n"),), lost=("1c",)),
    Case("custom_base_exception", "evaluate tests fail; run continues",
         inject=(("training.py", "5a", A.CUSTOM_BASE),), lost=("5a",)),
    Case("always_equal_object", "rejected on type check: kl_divergence tests fail",
         inject=(("probability.py", "1a", A.ALWAYS_EQUAL),), lost=("1a",)),
    Case("float_subclass_rigged", "rejected on type check: bits_per_dim tests fail",
         inject=(("probability.py", "1d", A.FLOAT_SUBCLASS),), lost=("1d",)),
    Case("tensor_subclass_torch_function", "wrong values under a lying subclass: nll fails",
         inject=(("probability.py", "1c", A.TENSOR_SUBCLASS),), lost=("1c",)),
    Case("patch_torch_allclose", "no effect on judging: wrong kl still fails, rest 40",
         inject=(("probability.py", "import", A.PATCH_TORCH),
                 ("probability.py", "1a", "return torch.zeros(p.shape[:-1])\n")), lost=("1a",)),
    Case("patch_test_machinery", "unittest/_pytest/gradescope_utils patches have no effect: "
         "wrong bits_per_dim still fails", inject=(("probability.py", "import", A.PATCH_MACHINERY),
                                                   ("probability.py", "1d", "return nll_nats\n")),
         lost=("1d",)),
    Case("ships_config_files", "conftest.py, pytest.ini, sitecustomize.py, .pth, torch.py are "
         "not copied; a wrong kl still fails", extra=A.CONFIG_FILES,
         inject=(("probability.py", "1a", "return torch.zeros(p.shape[:-1])\n"),), lost=("1a",)),
    Case("read_reference_and_hidden_tests", "EACCES; canary never in output; score 40",
         inject=(("probability.py", "1a", A.READ_SECRETS),)),
    Case("read_proc_environ", "other users' environ unreadable; canary absent; score 40",
         inject=(("probability.py", "1a", A.READ_ENVIRON),)),
    Case("read_judge_argv", "argv is readable but holds no secret: kl fails with the argv in "
         "its message, canary absent", inject=(("probability.py", "1a", A.READ_ARGV),),
         lost=("1a",)),
    Case("import_reference", "ModuleNotFoundError / unreadable; score 40",
         inject=(("probability.py", "1a", A.IMPORT_REFERENCE),)),
    Case("hardcoded_public_answers", "public kl test passes, hidden kl test fails: 39 (+ 5 "
         "extra credit)", inject=(("probability.py", "1a", A.HARDCODE_PUBLIC),),
         failing=("tests_hidden/test_probability.py::test_kl_divergence",),
         checks=("hidden_1a_failed",)),
    Case("while_true", "per-test wall-clock timeout; kl fails; rest 40",
         inject=(("probability.py", "1a", "while True:\n    pass\n"),), lost=("1a",)),
    Case("huge_sleep", "per-test wall-clock timeout; bits_per_dim fails; rest 40",
         inject=(("probability.py", "1d", "import time; time.sleep(10**6)\n"),), lost=("1d",)),
    Case("blocking_stdin_read", "stdin is /dev/null: read returns at once; score 40",
         inject=(("probability.py", "1c", "import sys; sys.stdin.read()\n"),)),
    Case("setsid_grandchild_writes_later", "grandchild killed by the per-user sweep before it "
         "writes; score 40", inject=(("probability.py", "1a", A.SETSID_GRANDCHILD),),
         checks=("no_drop_file",)),
    Case("fork_bomb", "NPROC limit; kl fails; grader survives; rest 40",
         inject=(("probability.py", "1a", A.FORK_BOMB),), lost=("1a",)),
    Case("allocate_50_gb", "memory limit: bits_per_dim fails 'memory'; rest 40",
         inject=(("probability.py", "1d", A.ALLOCATE),), lost=("1d",)),
    Case("print_1_gb", "output capped; score unaffected (40)",
         inject=(("probability.py", "1c", A.PRINT_1GB),)),
    Case("fake_passed_and_json_lines", "printed PASSED/JSON lines have no effect: wrong "
         "bits_per_dim still fails", inject=(("probability.py", "import", A.FAKE_LINES),
                                             ("probability.py", "1d", A.FAKE_LINES + "return nll_nats * 0\n")),
         lost=("1d",)),
    Case("write_10_gb_to_tmp", "FSIZE limit stops the write; code then runs; score 40",
         inject=(("probability.py", "1a", A.WRITE_TMP),)),
    Case("global_state_at_import", "seed, default dtype, grad mode, threads changed at import "
         "affect no other test: 40", inject=(("probability.py", "import", A.GLOBAL_STATE),
                                             ("sampling.py", "import", A.GLOBAL_STATE))),
    Case("network_loopback", "TCP and a DNS query over UDP to the audit's listeners on "
         "127.0.0.1, raw, packet, netlink and IPv6 sockets: all refused by the worker's "
         "seccomp filter, nothing arrives: 40", inject=(("probability.py", "import", S.NETWORK),),
         checks=("listener_silent",)),
    Case("network_loopback_swept", "the same under Docker's refusals (no network namespace, "
         "the filter alone): nothing arrives, 40",
         inject=(("probability.py", "import", S.NETWORK),), checks=("listener_silent",),
         docker=True),
    Case("ptrace_sibling", "PTRACE_ATTACH and process_vm_readv of a process of its own and of "
         "its parent: refused (EPERM): 40", inject=(("made.py", "import", S.PTRACE),)),
    Case("ptrace_sibling_swept", "the same under Docker's refusals: 40",
         inject=(("made.py", "import", S.PTRACE),), docker=True),
    Case("setuid0_and_kill_parent", "EPERM on setuid(0) and kill(getppid()); score 40",
         inject=(("probability.py", "1a", A.SETUID_KILL),)),
    # Forgeries (issue 9): each must score what the honest code deserves.
    Case("patch_probes_and_torch", "worker probes and torch patched at import to hide a "
         "non-strict output mask: dependence is measured by the judge; 2b and 2d lost",
         inject=(("made.py", "import", F.PATCH_PROBES),),
         wrong=(("made.py", "masks.append((degrees[0][:, None] > degrees[-1][None, :]).float())",
                 "masks.append((degrees[0][:, None] >= degrees[-1][None, :]).float())"),)),
    Case("forged_frame_every_fd", "made.py forges a result frame (a MADE without connections "
         "for dependence tests) on every fd and exits: no MADE part earns points",
         inject=(("made.py", "import", F.FORGE_FRAME),), lost=("2a", "2b", "2c", "2d")),
    Case("train_in_grandchild", "train runs in a forked grandchild that burns 10x the CPU: "
         "the fork server's clock counts it (timed tests fail), and no loss call or batch is "
         "seen where the known model lives (the other train tests fail): 5b and 5c lost",
         inject=(("training.py", "5b/5c", F.TRAIN_IN_GRANDCHILD),), lost=("5b", "5c")),
    Case("train_leaves_orphan", "train leaves a process burning CPU after it returns: the "
         "timed tests fail (orphans), nothing else", inject=(("training.py", "5b/5c",
                                                              F.ORPHAN_KEEPS_WORKING),),
         failing=("tests_hidden/test_training.py::test_train_timed",)),
    Case("perfect_predictor_after_train", "train never trains, fakes decreasing losses and "
         "patches forward to peek at x: the trusted worker scores the untouched parameters; "
         "5b and 5c lost", inject=(("training.py", "5b/5c", F.PERFECT_PREDICTOR),),
         lost=("5b", "5c")),
    # Leaks across tests, submissions and into root's hands (issue 10).
    Case("persist_between_tests", "files at any depth of /tmp, /var/tmp, /dev/shm, /run/lock "
         "(and world-writable folders of others) and SysV shm, planted by kl_divergence, are "
         "gone when bits_per_dim looks and after grading: 40",
         inject=(("probability.py", "1a", L.PERSIST_PLANT), ("probability.py", "1d", L.PERSIST_LOOK)),
         checks=("no_leftovers",)),
    Case("persist_between_tests_swept", "the same under Docker's refusals (no namespaces): "
         "the sweep of the sandbox user's files and IPC objects: 40",
         inject=(("probability.py", "1a", L.PERSIST_PLANT), ("probability.py", "1d", L.PERSIST_LOOK)),
         checks=("no_leftovers",), docker=True),
    Case("lock_symlinks", "links planted where sandbox-user locks live never make root write "
         "through them: 40", inject=(("probability.py", "1a", L.LOCK_SYMLINKS),),
         checks=("victim_unchanged", "no_leftovers")),
    Case("deep_tree", "a 3000-level folder tree in cwd, /tmp and /dev/shm: cleanup copes, 40",
         inject=(("probability.py", "1a", L.DEEP_TREE),), checks=("no_leftovers",)),
    Case("deep_tree_swept", "the same under Docker's refusals: the sweep deletes it: 40",
         inject=(("probability.py", "1a", L.DEEP_TREE),), checks=("no_leftovers",),
         docker=True),
    Case("folder_named_like_a_module", "an uploaded folder holding old/made.py/ and "
         "old/probability.py/ (folders, not files) beside the real modules: intake lists "
         "and ignores them, grades the real modules: 40",
         extra={"old/made.py/notes.txt": "old work\n", "old/probability.py/": ""},
         upload="folder"),
    Case("read_staff_checkout", "the staff checkout (.git, dist/, the full manifest, a canary "
         "file) is closed to the sandbox user: 40, canary absent",
         inject=(("probability.py", "1a", L.READ_CHECKOUT),)),
    Case("empty_submission_control", "the starter (all stubs): 0", score=0.0,
         replace={"__starter__": ""}),
]

FAST = ("forge_results_json", "os_exit_in_function", "always_equal_object",
        "read_reference_and_hidden_tests", "ships_config_files", "huge_sleep", "fork_bomb",
        "allocate_50_gb", "forged_frame_every_fd", "train_in_grandchild",
        "persist_between_tests_swept", "read_staff_checkout", "network_loopback_swept")
