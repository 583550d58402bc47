"""Attacks of issue 19 on what people read (text) and on the clock (see __init__.py).

A student's text reaches the staff's and the student's browser (results.json's Markdown) and
the staff's terminal (`grader gradescope`, `grade`, `batch`): each attack puts markup or
control sequences where it can, and the check `inert_text` (verdicts.py) asserts that
results.json is valid UTF-8 JSON with no control character and that its Markdown renders to
none of the student's tags, and that the command's output holds no escape sequence."""

MARKUP = "![t](http://tracker.example/t.png) <img src=x onerror=alert(1)> <http://tracker.example>"
# An OSC 0 (terminal title), OSC 52 (clipboard write), CSI (clear screen) and a bidi override.
SEQUENCES = "\\x1b]0;pwned\\x07\\x1b]52;c;cHduZWQ=\\x07\\x1b[2J\\u202e"

MARKUP_IN_MESSAGE = f'''
raise ValueError("{MARKUP} ```\\n</code></pre><img src=y>")
'''

SEQUENCES_AT_IMPORT = f'''
import sys as _sys
print("{SEQUENCES}")
_sys.stderr.write("{SEQUENCES}\\n")
'''

SEQUENCES_IN_MESSAGE = f'''
raise RuntimeError("{SEQUENCES} done")
'''

LONE_SURROGATE = '''
raise ValueError("bad value \\ud800 here")
'''

# A folder name holding markup (a folder upload: intake names it as "not a regular file").
MARKUP_NAME = "<img src=x onerror=alert(1)> ![t](http:tracker.example) [a](javascript:x)"
NOT_UTF8_NAME = "caf\udce9 \udcff\udcfe"  # bytes e9, ff, fe once written: not UTF-8

TRAIN_AUTO_REAPED = '''
# The real training (this very function, called again), then 10x its CPU time in a child
# that the kernel reaps by itself (SIGCHLD ignored): no wait, so no rusage holds its CPU time.
import os as _os, signal as _signal, time as _time
_train = globals()["train"]
if not getattr(_train, "_inner", False):
    _train._inner = True
    _start = _time.process_time()
    try:
        _losses = _train(model, data, loss_fn, steps=steps, batch_size=batch_size, lr=lr,
                         generator=generator, device=device, callback=callback)
    finally:
        _train._inner = False
    _spent = _time.process_time() - _start
    try:
        _signal.signal(_signal.SIGCHLD, _signal.SIG_IGN)
    except OSError:
        pass  # refused: the child stays waitable, and counted, whatever this code does
    _pid = _os.fork()
    if _pid == 0:
        _end = _time.process_time() + 10 * _spent
        while _time.process_time() < _end:
            pass
        _os._exit(0)

    def _state(pid):
        try:
            with open(f"/proc/{pid}/stat") as _stat:
                return _stat.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return "gone"
    while _state(_pid) not in ("Z", "X", "gone"):  # done: reaped, or a zombie nobody waits for
        _time.sleep(0.05)
    return _losses
'''
