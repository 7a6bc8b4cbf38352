"""gradlab.torch.diagnose on PyTorch training loops written as users write them (torch_loops.py):
an MLP, a CNN and a small transformer with padding (ignore_index=-100), each with the correct
loop and with each mistake; every tensor (every parameter, and the input where it has a .grad)
must be named correctly. float32 loops (the default PyTorch dtype), then bfloat16 models."""

import pytest

torch = pytest.importorskip("torch")

import gradlab.torch as gt  # noqa: E402
from torch_loops import cnn_case, mlp_case, run_loop, transformer_case  # noqa: E402

CASES = {"mlp": mlp_case, "cnn": cnn_case, "transformer": transformer_case}
SIZES = [3, 5, 8]


def mean_of_means(name):
    """The cause the mean of micro-batch means is named by: token losses say so."""
    return "per_microbatch_token_mean" if name == "transformer" else "mean_of_microbatch_means"


def run(name, loop, sizes=None, dtype=None, **kw):
    """The loop's report, with the input's gradient for float inputs."""
    model, x, y, loss_fn = CASES[name]()
    if dtype is not None:
        model = model.to(dtype)
        x = x.to(dtype) if x.is_floating_point() else x
    x = run_loop(model, loss_fn, x, y, loop, sizes, input_grad=x.is_floating_point(), **kw)
    return gt.diagnose(model, loss_fn, x, y, microbatches=sizes)


def every_tensor(report):
    """(name, verdict, causes) of every tensor diagnosed."""
    return [(n, d.verdict, d.causes) for n, d in report.diagnoses.items()]


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("sizes", [None, SIZES], ids=["one-batch", "micro-3-5-8"])
def test_correct_loop_is_correct_for_every_tensor(name, sizes):
    report = run(name, "correct", sizes)
    assert report.verdict == "correct", str(report)
    assert all(v == "correct" for _, v, _ in every_tensor(report)), every_tensor(report)
    assert report.causes == []
    expected = len(dict(CASES[name]()[0].named_parameters())) + (name != "transformer")
    assert len(report.diagnoses) == expected and not report.skipped


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize(
    "loop,sizes",
    [
        ("sum_instead_of_mean", None),
        ("sum_instead_of_mean", SIZES),
        ("mean_of_microbatch_means", SIZES),
        ("sum_of_microbatch_means", SIZES),
    ],
)
def test_each_mistake_is_named_for_every_tensor(name, loop, sizes):
    expected = mean_of_means(name) if loop == "mean_of_microbatch_means" else loop
    report = run(name, loop, sizes)
    assert report.verdict == "wrong"
    assert every_tensor(report) == [(n, "wrong", [expected]) for n in report.diagnoses], str(report)
    assert report.causes == [expected]


@pytest.mark.parametrize("name", CASES)
def test_accumulation_over_five_steps_without_moving_is_named_for_every_tensor(name):
    # x.grad and .grad summed over 5 backward passes at the same parameters (no step between):
    # exactly 5 times the correct gradient.
    report = run(name, "accumulated_over_steps", lr=0.0)
    assert every_tensor(report) == [(n, "wrong", ["accumulated_over_steps"]) for n in report.diagnoses], str(report)


@pytest.mark.parametrize("name", CASES)
def test_accumulation_over_five_sgd_steps(name):
    # zero_grad forgotten over 5 SGD steps (lr 1e-4): the gradient is 5 times the correct one
    # plus the drift of the parameters. Every tensor is named accumulated_over_steps: where the
    # drift takes the gradient out of the groups' span (tensors larger than the 16 groups), and
    # where the 16 groups' gradients span the tensor's whole gradient space (being in the span
    # then says nothing, so one whole factor within 5 % names it).
    report = run(name, "accumulated_over_steps", lr=1e-4)
    assert report.verdict == "wrong"
    assert report.causes == ["accumulated_over_steps"], str(report)
    for n, d in report.diagnoses.items():
        assert (d.verdict, d.causes) == ("wrong", ["accumulated_over_steps"]), (n, str(d))
        assert abs(d.factor - 5) < 0.05 * 5, (n, d.factor)


def report_size(name, tensor):
    """The values of a parameter of the case's model."""
    return dict(CASES[name]()[0].named_parameters())[tensor].numel()


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize(
    "loop,sizes",
    [("sum_instead_of_mean", None), ("mean_of_microbatch_means", SIZES), ("sum_of_microbatch_means", SIZES)],
)
def test_bf16_mistakes_are_named_for_every_tensor(name, loop, sizes):
    expected = mean_of_means(name) if loop == "mean_of_microbatch_means" else loop
    report = run(name, loop, sizes, dtype=torch.bfloat16)
    assert all(d.causes == [expected] for d in report.diagnoses.values()), str(report)
    # the dtype is read from the gradients: every tensor's text says bf16
    assert all("dtype=bf16 " in str(d) for d in report.diagnoses.values())


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("sizes", [None, SIZES], ids=["one-batch", "micro-3-5-8"])
def test_bf16_correct_loop_is_never_wrong(name, sizes):
    # bf16's tolerance is about 0.15 of the gradient: a mistake moving a tensor's gradient by
    # less than 2 tolerances is hidden, and that tensor is inconclusive, naming why.
    report = run(name, "correct", sizes, dtype=torch.bfloat16)
    assert report.verdict in ("correct", "inconclusive")
    for n, d in report.diagnoses.items():
        assert d.verdict in ("correct", "inconclusive"), (n, str(d))
        if d.verdict == "inconclusive":
            assert "dtype's rounding" in d.reason or "nearly collinear" in d.reason, d.reason
    assert report.tensors("correct"), "no tensor resolved at all"


@pytest.mark.parametrize(
    "loop,meant,expected",
    [
        ("correct", "mean", []),
        ("sequence_mean", "mean", ["sequence_mean_instead_of_token_mean"]),
        ("correct", "sequence-mean", ["token_mean_instead_of_sequence_mean"]),
        ("sequence_mean", "sequence-mean", []),
    ],
)
def test_transformer_token_mean_and_sequence_mean(loop, meant, expected):
    # The loss meant is the token mean (reduction "mean") or the mean of the sequences' token
    # means ("sequence-mean"); the loop computes one or the other.
    model, x, y, loss_fn = transformer_case()
    model.zero_grad()
    if loop == "correct":
        loss_fn(model(x), y).backward()
    else:
        per_token = loss_fn(model(x), y, reduction="none").view(y.shape)
        (per_token.sum(1) / (y != -100).sum(1)).mean().backward()
    report = gt.diagnose(model, loss_fn, x, y, reduction=meant)
    verdict = "wrong" if expected else "correct"
    assert every_tensor(report) == [(n, verdict, expected) for n in report.diagnoses], str(report)
