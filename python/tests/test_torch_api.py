"""gradlab.torch.diagnose's arguments, report and fallbacks: the report's verdict and causes,
JSON and text; parameters without .grad; grads given; dtypes; regression losses; the memory
budget's groups; a forward torch.func cannot vmap; one sentence for each bad argument."""

import json

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import gradlab.torch as gt  # noqa: E402
from torch_loops import MLP, mlp_case, run_loop, transformer_case  # noqa: E402


def sum_loop(model, x, y):
    """The summed loss's gradient (sum_instead_of_mean)."""
    model.zero_grad()
    F.cross_entropy(model(x), y, reduction="sum").backward()


def mean_loop(model, x, y):
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()


def test_report_json_text_and_model_untouched():
    model, x, y, loss_fn = mlp_case()
    sum_loop(model, x, y)
    before = {n: (p.detach().clone(), p.grad.clone()) for n, p in model.named_parameters()}
    report = gt.diagnose(model, loss_fn, x, y)
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n][0]) and torch.equal(p.grad, before[n][1]) and p.dtype == torch.float32
    data = json.loads(report.to_json())
    assert data["verdict"] == "wrong" and data["causes"] == ["sum_instead_of_mean"]
    assert data["cause_counts"] == {"sum_instead_of_mean": 6}
    assert list(data["parameters"]) == [n for n, _ in model.named_parameters()]
    one = data["parameters"]["net.0.weight"]
    for key in ("verdict", "causes", "factor", "relerr", "residual", "tolerance", "weights"):
        assert key in one
    assert abs(one["factor"] - 16) < 1e-3 and data["groups"]["kind"] == "samples" and data["groups"]["count"] == 16
    text = str(report)
    assert text.startswith("gradlab.torch: WRONG over 6 tensors (wrong 6); causes: sum_instead_of_mean (6)")
    for n, d in report.parameters.items():
        assert f"== {n}: wrong ==\n{str(d).rstrip()}" in text
        assert str(d).startswith("gradlab diagnose: groups=16 parameters=")
    assert "Report verdict=wrong" in repr(report)


class Partly(nn.Module):
    """An MLP with an unused layer and a frozen one."""

    def __init__(self):
        super().__init__()
        self.mlp = MLP()
        self.unused = nn.Linear(3, 3)
        self.frozen = nn.Parameter(torch.ones(4), requires_grad=False)

    def forward(self, x):
        return self.mlp(x) * self.frozen


def test_parameters_without_grad_are_reported_not_diagnosed():
    torch.manual_seed(0)
    model, x, y = Partly(), torch.randn(16, 10), torch.randint(0, 4, (16,))
    mean_loop(model, x, y)
    report = gt.diagnose(model, nn.CrossEntropyLoss(), x, y)
    assert report.verdict == "correct"
    assert set(report.skipped) == {"unused.weight", "unused.bias"}
    assert "frozen" not in report.diagnoses and "frozen" not in report.skipped
    assert "skipped: unused.weight: no .grad" in str(report)


def test_overall_verdict_and_causes_order():
    # A gradient dict mixing tensors: one correct, one summed, one doubled.
    model, x, y, loss_fn = mlp_case()
    mean_loop(model, x, y)
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    grads["net.2.weight"] *= 16
    grads["net.4.weight"] *= 16
    grads["net.0.weight"] *= 2
    for p in model.parameters():
        p.grad = None
    report = gt.diagnose(model, loss_fn, x, y, grads=grads)
    assert report.verdict == "wrong"
    assert report.causes == ["sum_instead_of_mean", "accumulated_over_steps"]
    assert report.parameters["net.0.bias"].verdict == "correct"
    assert report.tensors("wrong") == ["net.0.weight", "net.2.weight", "net.4.weight"]


def test_grads_dict_checked():
    model, x, y, loss_fn = mlp_case()
    with pytest.raises(ValueError, match="no parameter of the model"):
        gt.diagnose(model, loss_fn, x, y, grads={"net.9.weight": torch.zeros(3)})
    with pytest.raises(ValueError, match="holds 3 values; expected 320"):
        gt.diagnose(model, loss_fn, x, y, grads={"net.0.weight": torch.zeros(3)})
    mean_loop(model, x, y)
    report = gt.diagnose(model, loss_fn, x, y, grads={"net.0.bias": model.net[0].bias.grad.numpy()})
    assert list(report.parameters) == ["net.0.bias"] and report.verdict == "correct"
    assert len(report.skipped) == 5 and set(report.skipped.values()) == {"not in grads"}


def test_dtype_read_from_the_gradients_or_given():
    model, x, y, loss_fn = mlp_case()
    mean_loop(model, x, y)
    assert "dtype=f32 " in str(gt.diagnose(model, loss_fn, x, y))
    assert "dtype=bf16 " in str(gt.diagnose(model, loss_fn, x, y, dtype="bf16"))
    assert "dtype=f16 " in str(gt.diagnose(model, loss_fn, x, y, dtype=torch.float16))
    with pytest.raises(ValueError, match="dtype is 'fp32'; expected None"):
        gt.diagnose(model, loss_fn, x, y, dtype="fp32")
    model64 = mlp_case()[0].double()
    mean_loop(model64, x.double(), y)
    report = gt.diagnose(model64, loss_fn, x.double(), y)
    assert report.verdict == "correct" and "dtype=f64 " in str(report)


def test_regression_loss_counts_elements():
    # MSE over (n, 4) outputs: the mean divides by 4 items per sample, so the summed loss is
    # sum_instead_of_mean, not a factor of 4n.
    torch.manual_seed(1)
    model, x, t = MLP(), torch.randn(12, 10), torch.randn(12, 4)
    model.zero_grad()
    F.mse_loss(model(x), t, reduction="sum").backward()
    report = gt.diagnose(model, nn.MSELoss(), x, t)
    assert report.causes == ["sum_instead_of_mean"] and report.groups["items"] == 48
    model.zero_grad()
    F.mse_loss(model(x), t).backward()
    assert gt.diagnose(model, F.mse_loss, x, t).verdict == "correct"


def test_memory_budget_picks_runs_then_microbatches():
    model, x, y, loss_fn = mlp_case()
    x = run_loop(model, loss_fn, x, y, "mean_of_microbatch_means", [3, 5, 8], input_grad=True)
    p = sum(q.numel() for q in model.parameters()) + x.numel()
    runs = gt.diagnose(model, loss_fn, x, y, microbatches=[3, 5, 8], memory=6 * p * 8)
    assert runs.groups["kind"] == "runs of up to 3 samples" and runs.groups["count"] == 6
    assert runs.groups["method"] == "one backward per group"
    assert runs.causes == ["mean_of_microbatch_means"] and list(runs.inputs) == ["input"]
    assert runs.cause_counts() == {"mean_of_microbatch_means": 7}
    whole = gt.diagnose(model, loss_fn, x, y, microbatches=[3, 5, 8], memory=3 * p * 8)
    assert whole.groups["kind"] == "micro-batches" and whole.groups["microbatches"] == [1, 1, 1]
    assert whole.cause_counts() == {"mean_of_microbatch_means": 7}
    model, x, y, loss_fn = transformer_case()
    with pytest.raises(ValueError, match="more than memory=1000; expected a larger memory budget, or microbatches"):
        gt.diagnose(model, loss_fn, x, y, grads={"head.bias": torch.zeros(13)}, memory=1000)


class Branchy(nn.Module):
    """A forward torch.func cannot vmap: data-dependent control flow."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(10, 4), nn.Linear(10, 4)

    def forward(self, x):
        return self.a(x) if x.sum().item() > 0 else self.b(x)


def test_a_forward_that_does_not_vmap_falls_back_on_one_backward_per_sample():
    torch.manual_seed(2)
    model, x, y = Branchy(), torch.randn(8, 10), torch.randint(0, 4, (8,))
    model.zero_grad()
    for i in range(8):  # the model takes one sample at a time
        F.cross_entropy(model(x[i : i + 1]), y[i : i + 1], reduction="sum").backward()
    report = gt.diagnose(model, nn.CrossEntropyLoss(), x, y)
    assert report.groups["method"] == "one backward per sample (the forward does not vmap)"
    assert report.causes == ["sum_instead_of_mean"]


def test_models_whose_gradient_is_no_sum_over_samples_are_refused():
    torch.manual_seed(0)
    x, y = torch.randn(8, 10), torch.randint(0, 4, (8,))
    bn = nn.Sequential(nn.Linear(10, 6), nn.BatchNorm1d(6), nn.Linear(6, 4))
    mean_loop(bn, x, y)
    with pytest.raises(ValueError, match=r"^1 is a BatchNorm1d in training mode"):
        gt.diagnose(bn, nn.CrossEntropyLoss(), x, y)
    bn.eval()
    mean_loop(bn, x, y)
    assert gt.diagnose(bn, nn.CrossEntropyLoss(), x, y).verdict == "correct"
    drop = nn.Sequential(nn.Linear(10, 6), nn.Dropout(0.1), nn.Linear(6, 4))
    with pytest.raises(ValueError, match="drops out with p = 0.1 in training mode"):
        gt.diagnose(drop, nn.CrossEntropyLoss(), x, y)


@pytest.mark.parametrize(
    "change,message",
    [
        (dict(model=lambda x: x), "model is of type function; expected a torch.nn.Module"),
        (dict(inputs=[1, 2]), "inputs is of type list; expected a tensor"),
        (
            dict(targets=torch.zeros(5, dtype=torch.long)),
            "targets is a tensor of 5 samples; expected a batch-first tensor of the 16",
        ),
        (dict(targets=3), "targets is of type int; expected a batch-first tensor"),
        (dict(microbatches=[3, 5]), r"microbatches \[3, 5\] hold 8 samples; expected 16"),
        (dict(microbatches=[3, 0, 13]), "microbatches is .*; expected the samples of each micro-batch"),
        (dict(reduction="avg"), "reduction is 'avg'; expected one of mean, sum, sequence-mean"),
        (dict(reduction="sequence-mean"), "reduction 'sequence-mean' needs a token loss"),
        (dict(loss_fn=lambda out, y: F.cross_entropy(out, y)), "loss_fn takes no reduction keyword"),
        (dict(loss_fn=nn.CrossEntropyLoss(weight=torch.ones(4))), "loss_fn has class weights"),
        (dict(loss_fn=nn.ReLU()), "loss_fn is a ReLU module with no reduction attribute"),
        (dict(memory=0), "memory is 0; expected a positive number of bytes"),
        (dict(tolerance=2.0), "tolerance"),
        (dict(ranks=3), "do not split over 3 ranks"),
    ],
)
def test_bad_arguments_get_one_sentence(change, message):
    model, x, y, loss_fn = mlp_case()
    mean_loop(model, x, y)
    args = dict(model=model, loss_fn=loss_fn, inputs=x, targets=y)
    args.update(change)
    with pytest.raises(ValueError, match=message) as e:
        gt.diagnose(**args)
    assert "\n" not in str(e.value)


def test_no_gradient_at_all():
    model, x, y, loss_fn = mlp_case()
    with pytest.raises(ValueError, match="no parameter of the model has a .grad and no input has one"):
        gt.diagnose(model, loss_fn, x, y)


def test_help_is_useful():
    doc = gt.diagnose.__doc__
    for word in ("Args:", "loss_fn", "microbatches", "reduction", "dtype", "memory", "Returns:", "Raises:", "Example:"):
        assert word in doc
    for obj in (gt.Report, gt.Monitor, gt.Report.verdict, gt.Report.causes, gt.Report.to_json, gt.Monitor.observe):
        assert obj.__doc__ and len(obj.__doc__) > 30


def test_tied_weights_are_one_parameter():
    # An embedding shared with the head (as language models tie them): one parameter, whose
    # gradient sums both uses, diagnosed once.
    model, x, y, loss_fn = transformer_case()
    model.head.weight = model.embed.weight
    model.zero_grad()
    loss_fn(model(x), y, reduction="sum").backward()
    report = gt.diagnose(model, loss_fn, x, y)
    assert "embed.weight" in report.parameters and "head.weight" not in report.diagnoses
    assert report.cause_counts() == {"sum_instead_of_mean": len(report.parameters)}
    model.zero_grad()
    loss_fn(model(x), y).backward()
    assert gt.diagnose(model, loss_fn, x, y).verdict == "correct"
