"""The engine: its choices per device, and that the optimized path trains what the plain path trains."""
import csv

import pytest
import torch

import lt_lib.runs.engine as E
from lt_lib.errors import LtError
from lt_lib.learn import data as D
from lt_lib.learn.augment import Augmenter
from lt_lib.learn.exits import inference_exits, predict_with_exits
from lt_lib.learn.experiments import resolve
from lt_lib.runs.train import build_loss, build_model, load_data, train

CPU = torch.device("cpu")


@pytest.mark.parametrize("flags, fast", [("fpu avx2 fma", False), ("fpu avx512f amx_bf16 amx_tile", True),
                                         ("avx512_bf16 avx2", True)])
def test_fast_bf16_is_read_from_the_cpu_flags(tmp_path, flags, fast):
    info = tmp_path / "cpuinfo"
    info.write_text(f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: {flags}\n")
    assert E.cpu_has_fast_bf16(info) is fast
    assert E.cpu_has_fast_bf16(tmp_path / "missing") is False


CPU_KINDS = {"avx2": "fpu avx2 fma", "avx512_bf16": "fpu avx2 avx512f avx512_bf16",
             "amx": "fpu avx512f amx_bf16 amx_tile"}


@pytest.mark.parametrize("kind", CPU_KINDS)
def test_auto_choices_on_a_cpu_follow_its_bf16_flags_for_quick_and_full_runs_only(tmp_path, monkeypatch, kind):
    """Quick and full runs train in bf16 + channels_last on a CPU with AMX or AVX512-BF16, fp32 elsewhere;
    smoke runs (the tests) train fp32 contiguous on every CPU (posed here through $LT_CPUINFO), and the
    provenance names the CPU and its flags."""
    info = tmp_path / "cpuinfo"
    info.write_text(f"processor\t: 0\nmodel name\t: Some {kind} CPU\nflags\t\t: {CPU_KINDS[kind]}\n")
    monkeypatch.setenv("LT_CPUINFO", str(info))
    native = kind != "avx2"
    assert E.cpu_has_fast_bf16() is native
    for profile in ("smoke", None):
        eng = E.make_engine(CPU, profile=profile)
        assert (eng.precision, eng.compile, eng.channels_last, eng.eval_channels_last, eng.eval_batch) == \
            ("fp32", False, False, True, 500)
        assert eng.memory_format == torch.contiguous_format and eng.eval_memory_format == torch.channels_last
    for profile in ("quick", "full"):
        eng = E.make_engine(CPU, profile=profile)
        assert (eng.precision, eng.channels_last) == (("bf16", True) if native else ("fp32", False)), profile
        assert E.make_engine(CPU, profile=profile, precision="fp32").channels_last is False  # fp32 asked: as ever
    assert E.make_engine(CPU, precision="bf16").precision == "bf16"  # when asked
    info_ = E.cpu_info()
    assert info_["model"] == f"Some {kind} CPU" and info_["native_bf16"] is native
    assert set(info_["isa"]) == set(CPU_KINDS[kind].split()) & set(E.ISA_FLAGS)


def test_auto_choices_on_a_cpu_pinned_options():
    plain = E.make_engine(CPU, **E.PLAIN)
    assert (plain.precision, plain.compile, plain.channels_last, plain.eval_channels_last, plain.eval_batch) == \
        ("fp32", False, False, False, 1000)
    assert E.make_engine(CPU, compile=True, channels_last="on").compile is True
    assert E.make_engine(CPU, channels_last="on").memory_format == torch.channels_last


@pytest.mark.parametrize("options, message", [
    ({"precision": "fp16"}, "unknown precision 'fp16'; choose one of auto, fp32, bf16"),
    ({"compile": "maybe"}, "unknown compile setting 'maybe'"),
    ({"channels_last": "yes"}, "unknown channels_last setting 'yes'"),
    ({"eval_batch": 0}, "evaluation batch must be at least 1, got 0"),
])
def test_bad_engine_options_are_one_clear_line(options, message):
    with pytest.raises(LtError, match=message):
        E.make_engine(CPU, **options)


def _history(results, run_id):
    with open(results / run_id / "history.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("experiment", ["reslt-a0.95-aa-ls", "model7"])
def test_the_cpu_engine_trains_exactly_what_the_plain_path_trains(tmp_path, experiment):
    """Same seed, default CPU engine vs the plain path (contiguous, evaluation batch 1000): the same
    training losses bit for bit; the evaluation differs only in kernels, so at most one test image."""
    cfg = resolve(experiment, 100, "smoke", lr=0.01, epochs=3)
    runs = {}
    for name, options in (("engine", {}), ("plain", E.PLAIN)):
        base = tmp_path / name
        runs[name] = train(cfg, results_dir=base / "r", runs_dir=base / "k", quiet=True, engine=options)
        runs[name]["history"] = _history(base / "r", cfg.run_id)
    fast, plain = runs["engine"], runs["plain"]
    assert [h["train_loss"] for h in fast["history"]] == [h["train_loss"] for h in plain["history"]]
    assert [h["train_acc"] for h in fast["history"]] == [h["train_acc"] for h in plain["history"]]
    one_image = 100 / len(load_data(cfg).test_y)
    assert fast["final"]["overall"] == pytest.approx(plain["final"]["overall"], abs=one_image + 1e-9)
    assert fast["provenance"]["engine"]["eval_batch"] == 500 and plain["provenance"]["engine"]["eval_batch"] == 1000


def _one_step(cfg, data, engine, dtype=torch.float32):
    """Loss and gradient of one step from the same initial weights and batch."""
    torch.manual_seed(0)
    model = build_model(cfg).to(dtype=dtype, memory_format=engine.memory_format)
    criterion = build_loss(cfg, data.counts).to(dtype)
    x, y = next(D.train_batches(data, 16, torch.Generator().manual_seed(0), Augmenter(), cfg.normalize,
                                engine.memory_format))
    with engine.autocast():
        out = engine.forward_fn(model)(x.to(dtype))
    out = E.fp32(out) if dtype == torch.float32 else out
    loss, _ = criterion([out], y)
    loss.backward()
    return out, loss.detach(), {n: p.grad.flatten().double() for n, p in model.named_parameters()}


def test_bf16_autocast_keeps_the_loss_in_fp32_and_close():
    cfg = resolve("reslt-a0.95-aa-ls", 100, "smoke")
    data = load_data(cfg)
    out32, loss32, grad32 = _one_step(cfg, data, E.make_engine(CPU, **E.PLAIN))
    out16, loss16, grad16 = _one_step(cfg, data, E.make_engine(CPU, **{**E.PLAIN, "precision": "bf16"}))
    assert all(z.dtype == torch.float32 for z in out16) and loss16.dtype == torch.float32
    assert loss16 == pytest.approx(loss32.item(), rel=2e-2)  # bf16 keeps ~3 significant digits
    # the head's gradient agrees; deeper down bf16 rounding compounds through 31 BatchNorms of an
    # untrained network (cosine 0.93 over every parameter, measured): the tolerance of bf16 training
    head = [n for n in grad32 if n.startswith("head.")]
    cos = torch.cosine_similarity(torch.cat([grad16[n] for n in head]), torch.cat([grad32[n] for n in head]), dim=0)
    assert cos > 0.999, cos


def test_compiled_forward_is_as_exact_as_eager():
    """Compiled and eager fp32 sum in different orders, so neither is the reference: both are held
    against a float64 step. On an untrained ResNet-32 (31 BatchNorms) either lands 1e-4 to 1.2e-3 from
    it, depending on the kernels picked (measured on AVX2 and AVX512 CPUs); a computation that differs
    (a wrong op, a lost BatchNorm statistic) lands O(1) away. Both must stay at fp32's noise level."""
    cfg = resolve("ce", 100, "smoke")
    data = load_data(cfg)
    plain = E.make_engine(CPU, **E.PLAIN)
    _, loss64, grad64 = _one_step(cfg, data, plain, torch.float64)
    _, loss, grad = _one_step(cfg, data, plain)
    _, closs, cgrad = _one_step(cfg, data, E.make_engine(CPU, **{**E.PLAIN, "compile": "on"}))
    assert closs.item() == pytest.approx(loss64.item(), rel=1e-5) and loss.item() == pytest.approx(loss64.item(), rel=1e-5)
    exact, grad, cgrad = (torch.cat(list(g.values())) for g in (grad64, grad, cgrad))

    def error(g):
        return ((g - exact).norm() / exact.norm()).item()

    assert error(grad) < 5e-3 and error(cgrad) < 5e-3, (error(grad), error(cgrad))


def test_a_failing_compiler_falls_back_to_eager_with_one_line(monkeypatch, capsys):
    def broken(model, **kwargs):
        def run(x):
            raise RuntimeError("no C compiler found\nlong traceback text")
        return run

    monkeypatch.setattr(torch, "compile", broken)
    model = torch.nn.Linear(3, 2)
    forward = E.make_engine(CPU, compile="on").forward_fn(model)
    x = torch.ones(4, 3)
    assert torch.equal(forward(x), model(x)) and torch.equal(forward(x), model(x))
    assert forward.failed == "RuntimeError: no C compiler found"
    assert capsys.readouterr().out == "torch.compile failed (RuntimeError: no C compiler found); training eager\n"


def test_predict_with_exits_equals_the_masked_inference_rule():
    """Stopping each image at its exit gives the predictions and exits of the rule applied to every
    exit's output; a threshold at exit 1's median confidence splits the batch for real."""
    cfg = resolve("model7", 100, "smoke")
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    x = torch.rand(64, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        outputs = model(x)
        conf1 = torch.softmax(E.fp32(outputs[0])[0] + outputs[0][1] + outputs[0][2], 1).max(1).values \
            if isinstance(outputs[0], tuple) else torch.softmax(outputs[0], 1).max(1).values
    for threshold in (conf1.median().item(), 0.0, 1.01):
        exit_idx, pred = inference_exits(outputs, threshold)
        fast_pred, fast_exit = predict_with_exits(model, x, threshold)
        assert torch.equal(fast_exit, exit_idx) and torch.equal(fast_pred, pred)
    assert set(predict_with_exits(model, x, conf1.median().item())[1].tolist()) >= {0}
    pred_final, exit_final = predict_with_exits(model, x, None)
    assert exit_final.eq(2).all() and torch.equal(pred_final, inference_exits(outputs, 1.01)[1])


def test_cuda_graphs_are_asked_for_only_where_there_is_cuda():
    assert E.make_engine(CPU).graph is False and E.make_engine(CPU, graph="auto").graph is False
    with pytest.raises(LtError, match="CUDA graphs need a CUDA device; use --graph off"):
        E.make_engine(CPU, graph="on")
    with pytest.raises(LtError, match="unknown graph setting 'always'"):
        E.make_engine(CPU, graph="always")
