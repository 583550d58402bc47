"""The reference's costly answers, kept across the gradings of a batch (interfaces.AnswerStore):
a second grading reads them instead of running the reference again; cheap answers stay in the
grading that asked for them; a damaged entry is a miss, never a wrong answer."""
from grader.trusted.interfaces import AnswerStore, Cached, Interface
from grader.trusted.outcome import Usage


class Oracle(Interface):
    def __init__(self):
        self.calls = []

    def answer(self, probe, kwargs, fresh):
        self.calls.append(probe if fresh else f"{probe} (oracle worker)")
        cpu = 2.0 if probe == "train" else 0.01
        return {"probe": probe, **kwargs}, Usage(cpu, cpu + 0.1, 0)


def test_costly_answers_are_kept_and_reused_with_their_usage(tmp_path):
    first, second = Oracle(), Oracle()
    value, usage = Cached(first, AnswerStore(tmp_path)).timed("train", steps=3)
    Cached(first, AnswerStore(tmp_path)).timed("call", x=1)
    again, again_usage = Cached(second, AnswerStore(tmp_path)).timed("train", steps=3)
    assert (again, again_usage) == (value, usage) == ({"probe": "train", "steps": 3},
                                                      Usage(2.0, 2.1, 0))
    assert second.calls == []  # read from the store
    Cached(second, AnswerStore(tmp_path)).timed("call", x=1)
    assert second.calls == ["call"]  # cheap: not kept
    Cached(second, AnswerStore(tmp_path)).timed("train", steps=4)
    assert second.calls == ["call", "train"]  # other arguments, another answer
    assert len(list(tmp_path.glob("*.json"))) == 2


def test_a_damaged_entry_is_a_miss(tmp_path):
    Cached(Oracle(), AnswerStore(tmp_path)).timed("train", steps=3)
    for entry in tmp_path.glob("*.json"):
        entry.write_text("{not json")
    oracle = Oracle()
    value, _ = Cached(oracle, AnswerStore(tmp_path)).timed("train", steps=3)
    assert oracle.calls == ["train"] and value == {"probe": "train", "steps": 3}


def test_without_a_store_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Cached(Oracle()).timed("train", steps=3)
    assert list(tmp_path.iterdir()) == []


def test_an_oracle_worker_answer_is_neither_timed_nor_kept(tmp_path):
    """An answer from the long-lived oracle worker serves later untimed requests; a timed
    request runs in a fresh worker, and only that measurement is kept for the batch."""
    oracle = Oracle()
    cached = Cached(oracle, AnswerStore(tmp_path))
    cached.run("train", steps=3)
    cached.run("train", steps=3)
    assert oracle.calls == ["train (oracle worker)"] and not list(tmp_path.glob("*.json"))
    _, usage = cached.timed("train", steps=3)
    cached.timed("train", steps=3)
    cached.run("train", steps=3)
    assert oracle.calls == ["train (oracle worker)", "train"] and usage == Usage(2.0, 2.1, 0)
    assert len(list(tmp_path.glob("*.json"))) == 1
