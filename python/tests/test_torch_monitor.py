"""gradlab.torch.Monitor in training loops: a correct loop (no warning, every checked step
correct), a loop that forgets zero_grad (one warning, at the second step, naming
accumulated_over_steps), a gradient-accumulation loop with the mean of micro-batch means (one
warning), and a model the diagnosis refuses (one warning that it cannot check)."""

import warnings

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import gradlab.torch as gt  # noqa: E402
from gradlab.torch.monitor import GradientWarning  # noqa: E402
from torch_loops import MLP  # noqa: E402


def batches(count, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(size, 10, generator=g), torch.randint(0, 4, (size,), generator=g)) for _ in range(count)]


def setup(lr=1e-3, every=2):
    torch.manual_seed(0)
    model = MLP()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    return model, opt, gt.Monitor(model, nn.CrossEntropyLoss(), opt, every=every)


def gradient_warnings(record):
    return [w for w in record if issubclass(w.category, GradientWarning)]


def test_correct_loop_never_warns():
    model, opt, monitor = setup(every=2)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for x, y in batches(6):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            monitor.observe(x, y)
            opt.step()
    assert gradient_warnings(record) == []
    assert [s for s, _ in monitor.reports] == [2, 4, 6] and monitor.steps == 6
    assert all(r.verdict == "correct" for _, r in monitor.reports)
    assert not monitor.warned


def test_forgotten_zero_grad_warns_once_at_the_second_step():
    model, opt, monitor = setup(lr=1e-4, every=100)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for x, y in batches(6):
            F.cross_entropy(model(x), y).backward()  # optimizer.zero_grad() forgotten
            monitor.observe(x, y)
            opt.step()
    found = gradient_warnings(record)
    assert len(found) == 1 and monitor.warned
    step, report = monitor.reports[0]
    assert step == 2 and len(monitor.reports) == 1
    assert report.verdict == "wrong" and report.causes[0] == "accumulated_over_steps"
    assert report.groups["count"] == 32  # both steps' samples
    message = str(found[0].message)
    assert "at optimizer step 2 is WRONG (the gradients were not zeroed since the previous step" in message
    assert str(report) in message


def test_mean_of_microbatch_means_warns_once():
    model, opt, monitor = setup(every=1)
    sizes = [3, 5, 8]
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for x, y in batches(3):
            opt.zero_grad()
            for xb, yb in zip(torch.split(x, sizes), torch.split(y, sizes)):
                (F.cross_entropy(model(xb), yb) / len(sizes)).backward()
                monitor.observe(xb, yb)
            opt.step()
    assert len(gradient_warnings(record)) == 1
    (step, report), = monitor.reports
    assert step == 1 and report.causes == ["mean_of_microbatch_means"]
    assert report.groups["microbatches"] == [3, 5, 8]


def test_gradient_accumulation_done_right_never_warns():
    model, opt, monitor = setup(every=1)
    sizes = [3, 5, 8]
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for x, y in batches(3):
            for xb, yb in zip(torch.split(x, sizes), torch.split(y, sizes)):
                (F.cross_entropy(model(xb), yb, reduction="sum") / len(y)).backward()
                monitor.observe(xb, yb)
            opt.step()
            opt.zero_grad(set_to_none=False)  # zeroed in place, after the step
    assert gradient_warnings(record) == []
    assert [r.verdict for _, r in monitor.reports] == ["correct"] * 3


def test_a_model_it_cannot_check_gets_one_warning():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 8), nn.Dropout(0.2), nn.Linear(8, 4))
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    with gt.Monitor(model, nn.CrossEntropyLoss(), opt) as monitor, warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for x, y in batches(3):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            monitor.observe(x, y)
            opt.step()
    (w,) = gradient_warnings(record)
    assert "cannot check this training loop and stops: 1 drops out with p = 0.2" in str(w.message)
    assert monitor.reports == [] and monitor.warned


def test_monitor_arguments():
    model = MLP()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    with pytest.raises(ValueError, match="every is 0; expected a whole number of steps"):
        gt.Monitor(model, nn.CrossEntropyLoss(), opt, every=0)
    with pytest.raises(ValueError, match="optimizer is of type str"):
        gt.Monitor(model, nn.CrossEntropyLoss(), "sgd")
    monitor = gt.Monitor(model, nn.CrossEntropyLoss(), opt)
    monitor.close()
    assert all(not p._backward_hooks for p in model.parameters())
    assert not opt._optimizer_step_pre_hooks and not opt._optimizer_step_post_hooks


def test_an_evaluation_forward_after_the_step_is_no_forgotten_zero_grad():
    # zero_grad at the top of the loop, and a forward with grad enabled after the step (the
    # gradients are not zeroed yet then): no false alarm.
    model, opt, monitor = setup(every=1)
    data = batches(4)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for x, y in data:
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            monitor.observe(x, y)
            opt.step()
            F.cross_entropy(model(data[0][0]), data[0][1]).item()  # logging, grad enabled
    assert gradient_warnings(record) == []
    assert [r.verdict for _, r in monitor.reports] == ["correct"] * 4
