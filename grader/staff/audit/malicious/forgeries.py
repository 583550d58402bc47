"""Forgeries (issue 9): what a worker sends back is the student's choice. Each attack below
must score what the honest code deserves, since the judge computes every property itself."""

PATCH_PROBES = '''
import sys as _sys
import torch as _torch
for _name in ("grader.worker.probes", "grader.probes"):
    _mod = _sys.modules.get(_name)
    if _mod is None:
        continue
    _orig = _mod.PROBES.get("model_outputs")
    if _orig is not None:
        def _no_dependence(student, *a, _orig=_orig, **k):
            out = _orig(student, *a, **k)
            out["outputs"] = [out["outputs"][0]] * len(out["outputs"])  # no input ever matters
            return out
        _mod.PROBES["model_outputs"] = _no_dependence
    if "made_dependencies" in _mod.PROBES:  # the probe that measured dependence in-process
        _mod.PROBES["made_dependencies"] = lambda student, arch, **k: _torch.tril(
            _torch.ones(arch["num_inputs"], arch["num_inputs"], dtype=_torch.float64), -1)
    for _helper in ("_all_paths_alive", "_sgd_step"):
        if hasattr(_mod, _helper):
            setattr(_mod, _helper, lambda *a, **k: None)
import torch.autograd.functional as _af
_af.jacobian = lambda f, x, *a, **k: _torch.zeros(1)
'''

FORGE_FRAME = '''
import os as _os, sys as _sys
def _forge():
    wire = _sys.modules.get("grader.wire")
    frame, request = _sys._getframe(), None
    while frame is not None and request is None:
        candidate = frame.f_locals.get("request")
        if isinstance(candidate, dict) and "probe" in candidate:
            request = candidate
        frame = frame.f_back
    if wire is None or request is None:
        return
    import torch as _t
    kwargs, value = request.get("kwargs", {}), None
    if request["probe"] == "model_outputs" and kwargs.get("state"):
        # A MADE whose masks cut every connection: weights as loaded, so its output is the
        # last layer's bias, which is what these forged outputs are. No input ever matters.
        state = kwargs["state"]
        layers = {k: v for k, v in state.items()}
        last = max(int(k.split(".")[1]) for k in state if k.startswith("layers."))
        for k in list(state):
            if k.endswith(".weight"):
                layers[k.replace(".weight", ".mask")] = _t.zeros_like(state[k])
        bias = state[f"layers.{last}.bias"].double()
        value = {"outputs": [bias.expand(q.shape[0], -1).clone() for q in kwargs["queries"]],
                 "layers": layers}
    elif request["probe"] == "made_dependencies":
        n = kwargs["arch"]["num_inputs"]
        value = _t.tril(_t.ones(n, n, dtype=_t.float64), -1)
    frame = wire.encode({"ok": True, "value": value})
    for fd in range(256):
        try:
            _os.write(fd, frame)
        except OSError:
            pass
    _os._exit(0)
_forge()
'''

TRAIN_IN_GRANDCHILD = '''
import io as _io, os as _os, time as _time
_read, _write = _os.pipe()
_pid = _os.fork()
if _pid == 0:  # the grandchild trains, then burns 10x that CPU time, then sends the weights
    _start = _time.process_time()
    _optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    _losses = []
    _generator = generator
    for _ in range(steps):
        _index = torch.randint(len(data), (batch_size,), generator=_generator)
        _x = data[_index]
        _loss = (loss_fn or _default_loss())(model(_x), _x).mean()
        _optimizer.zero_grad()
        _loss.backward()
        _optimizer.step()
        _losses.append(_loss.item())
    _end = _time.process_time() + 10 * (_time.process_time() - _start)
    while _time.process_time() < _end:
        pass
    _buffer = _io.BytesIO()
    torch.save({"state": model.state_dict(), "losses": _losses}, _buffer)
    _view = memoryview(_buffer.getvalue())
    while _view:
        _view = _view[_os.write(_write, _view):]
    _os._exit(0)
_os.close(_write)
_chunks = []
while True:
    _chunk = _os.read(_read, 1 << 20)
    if not _chunk:
        break
    _chunks.append(_chunk)
_os.waitpid(_pid, 0)
_result = torch.load(_io.BytesIO(b"".join(_chunks)), weights_only=True)
model.load_state_dict(_result["state"])
return _result["losses"]
'''

ORPHAN_KEEPS_WORKING = '''
import os as _os
if _os.fork() == 0:  # left running after train returns
    _os.setsid()
    while True:
        pass
'''

PERFECT_PREDICTOR = '''
# No training at all: losses that look right, and a model whose forward peeks at its input
# (a "perfect predictor") whenever anything evaluates it afterwards in this process.
model.forward = lambda x: 100.0 * (2 * x - 1)
return [500.0 * 0.99 ** step for step in range(steps)]
'''
