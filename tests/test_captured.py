"""The CUDA path on a CPU: the captured step's bookkeeping (with a stand-in for CUDA that replays a "graph"
by calling the step on its static buffers), its fallback when a capture fails, the optimizer's binding to
the engine's lr across a resume, the loss constants that move with the loss, and ``preflight``."""
import contextlib
import dataclasses
import io

import pytest
import torch

import lt_lib.runs.train as T
from conftest import Killed, kill_at
from lt_lib.learn.experiments import EXPERIMENTS, resolve
from lt_lib.runs.engine import Engine
from lt_lib.runs.preflight import check, run_preflight
from lt_lib.runs.step import CAPTURE_WARMUP_STEPS, CapturedStep

CPU = torch.device("cpu")


class FakeStream:
    def __init__(self, name):
        self.name = name

    def wait_stream(self, other):
        pass


class FakeEvent:
    def record(self):
        pass

    def synchronize(self):
        pass


class FakeGraph:
    def __init__(self):
        self.fn, self.replays, self.was_reset = None, 0, False

    def replay(self):
        self.replays += 1
        self.fn()

    def reset(self):
        self.was_reset = True


class FakeCuda:
    """CUDA as CapturedStep uses it, on the CPU: a capture records the step's call on the static buffers
    without running it; a replay runs it (reading the buffers' current values, as a graph reads its
    memory). ``fail`` makes ending a capture fail the way torch.cuda.graph does: with the capture stream
    left current."""

    def __init__(self, fail=None):
        self.run_stream, self.fail = FakeStream("run"), fail
        self.current, self.streams, self.graphs, self.syncs = self.run_stream, [], [], 0

    def new_stream(self):
        self.streams.append(FakeStream(f"side {len(self.streams)}"))
        return self.streams[-1]

    def current_stream(self):
        return self.current

    def set_stream(self, stream):
        self.current = stream

    @contextlib.contextmanager
    def use_stream(self, stream):
        before, self.current = self.current, stream
        yield
        self.current = before

    def new_graph(self):
        self.graphs.append(FakeGraph())
        return self.graphs[-1]

    def capture(self, graph, fn, stream):
        self.current = stream
        if self.fail:
            raise RuntimeError(self.fail)
        graph.fn = fn
        self.current = self.run_stream

    def pinned(self, nbytes):
        return torch.empty(nbytes, dtype=torch.uint8)

    def event(self):
        return FakeEvent()

    def synchronize(self):
        self.syncs += 1


def graph_engine(monkeypatch):
    """The run's engine as on CUDA (lr a tensor the graph reads), on the CPU."""
    real = T.make_engine
    monkeypatch.setattr(T, "make_engine", lambda dev, **kw: dataclasses.replace(real(dev, **kw), graph=True))


def test_a_captured_run_trains_exactly_what_the_eager_step_trains(tmp_path, monkeypatch):
    """Every step after the warm-up replays a graph through the static buffers: across epoch boundaries,
    the partial last batch (its own graph), the lr decay, the DRW switch and a resume, the run equals the
    eager one (the same engine, so bit for bit)."""
    cfg = resolve("ldam-drw", 100, "smoke")  # LDAM + DRW from epoch 5 of 6, lr x0.01 at epoch 5
    assert cfg.drw and cfg.milestones == (5, 5) and 519 % cfg.batch_size  # a partial last batch each epoch
    graph_engine(monkeypatch)
    monkeypatch.setattr(T, "as_run", lambda step, eng: step)
    eager = T.train(cfg, results_dir=tmp_path / "e", runs_dir=tmp_path / "ek", quiet=True)
    cudas = []

    def captured(step, eng):
        cudas.append(FakeCuda())
        return CapturedStep(step, backend=cudas[-1])

    monkeypatch.setattr(T, "as_run", captured)

    with pytest.raises(Killed):
        T.train(cfg, results_dir=tmp_path / "c", runs_dir=tmp_path / "ck", quiet=True, on_epoch_end=kill_at(3))
    resumed = T.train(cfg, results_dir=tmp_path / "c", runs_dir=tmp_path / "ck", quiet=True, resume=True)
    assert resumed["provenance"]["resumed_at_epochs"] == [2]
    assert resumed["final"] == eager["final"] and resumed["best"] == eager["best"]
    he, hc = T.ResultsStore(tmp_path / "e").history(cfg.run_id), T.ResultsStore(tmp_path / "c").history(cfg.run_id)
    assert he.equals(hc)
    # a graph per batch shape (the partial last batch, once an epoch, is captured at its fourth occurrence:
    # in the resumed run), replayed for every step after the warm-up; one side stream per run
    assert [len(c.graphs) for c in cudas] == [1, 2]
    assert all(g.replays > 0 for c in cudas for g in c.graphs) and all(len(c.streams) == 1 for c in cudas)


def test_a_failed_capture_restores_the_stream_and_falls_back_once(capsys):
    """torch.cuda.graph leaves its capture stream current when ending the capture fails: the fallback
    makes the run's stream current again, drops the graph, and steps eagerly from then on, saying so once."""
    calls = []

    class Step:
        data = type("D", (), {"device": CPU})()
        optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        static = False

        def __call__(self, idx, draws, weight):
            calls.append((len(idx), self.static))

    cuda = FakeCuda(fail="operation not permitted when stream is capturing")
    captured = CapturedStep(Step(), backend=cuda)
    for _ in range(CAPTURE_WARMUP_STEPS + 3):
        captured(torch.arange(4), {"offsets": torch.zeros(4, 2, dtype=torch.long)}, None)
        assert cuda.current is cuda.run_stream
    out = capsys.readouterr().out
    assert out.count("CUDA graph capture failed (RuntimeError: operation not permitted") == 1
    assert len(calls) == CAPTURE_WARMUP_STEPS + 3 and all(not static for _, static in calls)
    assert cuda.graphs[0].was_reset and cuda.syncs == 1 and len(cuda.streams) == 1


@pytest.mark.parametrize("saved_lr", ["tensor", "float"])
def test_a_resumed_optimizer_reads_the_engines_lr(saved_lr):
    """After loading a checkpoint (its lr a CPU tensor, or a float from a CPU run), every group's lr is
    still the engine's own tensor, holding the saved value, and set_lr changes what the optimizer reads."""
    eng = Engine(CPU, "fp32", False, False, False, 500, graph=True)
    model = torch.nn.Linear(3, 2)
    saved = torch.optim.SGD(model.parameters(), lr=torch.tensor(0.02) if saved_lr == "tensor" else 0.02, momentum=0.9)
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    saved.step()
    buf = io.BytesIO()
    torch.save(saved.state_dict(), buf)
    buf.seek(0)
    opt = eng.optimizer(model.parameters(), lr=0.1, momentum=0.9)
    mine = opt.param_groups[0]["lr"]
    eng.load_optimizer_state(opt, torch.load(buf, weights_only=True))
    assert opt.param_groups[0]["lr"] is mine and float(mine) == pytest.approx(0.02)
    assert opt.state[next(iter(model.parameters()))]["momentum_buffer"] is not None
    eng.set_lr(opt, 0.001)
    assert float(opt.param_groups[0]["lr"]) == pytest.approx(0.001)


def test_a_losss_constants_move_with_it():
    """LDAM's margins, the ResLT branch members and the simulated weights are buffers of the loss: on the
    device after ``.to()``, so a captured step copies nothing from the host."""
    for name in ("ldam-drw", "model5", "model2", "reslt-a0.95"):
        cfg = resolve(name, 100, "full")
        loss = T.build_loss(cfg, [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]).to("meta")
        buffers = dict(loss.named_buffers())
        assert buffers and all(b.device.type == "meta" for b in buffers.values()), name
        if cfg.criterion == "ldam":
            assert any(key.endswith("margins") for key in buffers), name


def test_preflight_passes_every_registry_entry(capsys):
    outcomes = run_preflight()
    assert [o["experiment"] for o in outcomes] == list(EXPERIMENTS)
    assert all(o["ok"] for o in outcomes), [o for o in outcomes if not o["ok"]]
    assert capsys.readouterr().out.splitlines()[-1] == f"preflight: {len(EXPERIMENTS)} of {len(EXPERIMENTS)} " \
                                                       "experiment(s) ready for a captured CUDA step"


def test_preflight_finds_host_reads_copies_and_frozen_values(monkeypatch):
    """What the step of b64e718 did (LDAM margins left on the host), a host read and a host-side value
    that changes from step to step: each named, with where."""
    from lt_lib.learn import losses

    real = T.build_loss

    def margins_on_the_host(cfg, counts):
        loss = real(cfg, counts)
        del loss.J
        loss.J = losses.LDAMLoss(counts).per_sample  # a bound method: its margins are not moved by .to()
        return loss

    monkeypatch.setattr(T, "build_loss", margins_on_the_host)
    copies = check("ldam-drw")
    assert not copies["ok"] and copies["problems"][0].startswith("(a) ") and "host-to-device" in copies["problems"][0]
    assert "losses.py" in copies["problems"][0] and "scaled_logits" in copies["problems"][0]
    monkeypatch.setattr(T, "build_loss", real)

    import random

    real_forward = losses.ExitLoss.forward

    def reads_the_loss(self, outputs, y, class_weight=None, mix=None):
        loss, exit_idx = real_forward(self, outputs, y, class_weight, mix)
        return loss * (1 + 0 * float(loss.detach())) * random.random(), exit_idx  # a read; a value per step

    monkeypatch.setattr(losses.ExitLoss, "forward", reads_the_loss)
    found = check("ce")
    assert not found["ok"]
    read = next(p for p in found["problems"] if p.startswith("(a) 1 host read(s)"))
    assert "_local_scalar_dense" in read and "step.py" in read
    frozen = next(p for p in found["problems"] if p.startswith("(b) ") and "host-side value(s) differ" in p)
    assert "mul" in frozen
