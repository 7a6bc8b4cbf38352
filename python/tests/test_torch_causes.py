"""The causes gradlab.torch names beyond the weights: ``params_after_step`` (the gradient read
after ``optimizer.step()`` moved the parameters) and ``dtype_mismatch`` (a bfloat16 gradient
judged by float32's rounding), on the MLP, the CNN and the transformer of torch_loops.py."""

import pytest

torch = pytest.importorskip("torch")

import gradlab.torch as gt  # noqa: E402
from torch_loops import cnn_case, mlp_case, transformer_case  # noqa: E402

CASES = {"mlp": mlp_case, "cnn": cnn_case, "transformer": transformer_case}


def stepped(case, make_opt, n=16):
    """The correct loop's backward, then the optimizer's step: the gradient belongs to the
    parameters before the step, the model holds those after it."""
    model, x, y, loss_fn = CASES[case](n=n)
    model.zero_grad()
    loss_fn(model(x), y).backward()
    make_opt(model.parameters()).step()
    return model, x, y, loss_fn


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("lr", [0.05, 0.5])
def test_a_gradient_diagnosed_after_the_sgd_step_is_params_after_step(case, lr):
    model, x, y, loss_fn = stepped(case, lambda p: torch.optim.SGD(p, lr=lr))
    report = gt.diagnose(model, loss_fn, x, y)
    assert report.causes == ["params_after_step"], str(report)
    for name, d in report.parameters.items():
        if d.verdict == "correct":  # a parameter the step did not move measurably
            continue
        assert d.causes == ["params_after_step"], f"{name}: {d}"
        assert d.learning_rate == pytest.approx(lr, rel=0.02), name
        assert "optimizer.step()" in str(d)


def test_the_first_step_of_momentum_sgd_is_plain_sgd_and_adam_is_not():
    # Momentum's first step is lr g: the same step back.
    model, x, y, loss_fn = stepped("mlp", lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9))
    assert gt.diagnose(model, loss_fn, x, y).causes == ["params_after_step"]
    # Adam's first step moves every parameter by about lr, not along g: not named a step back.
    model, x, y, loss_fn = stepped("mlp", lambda p: torch.optim.Adam(p, lr=1e-2))
    report = gt.diagnose(model, loss_fn, x, y)
    assert "params_after_step" not in report.causes, str(report)
    assert report.verdict == "wrong"


def test_a_correct_gradient_before_the_step_stays_correct():
    model, x, y, loss_fn = mlp_case()
    model.zero_grad()
    loss_fn(model(x), y).backward()
    assert gt.diagnose(model, loss_fn, x, y).verdict == "correct"


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bf16_gradient_judged_as_float32_is_a_dtype_mismatch(case):
    model, x, y, loss_fn = CASES[case](n=16)
    model = model.to(torch.bfloat16)
    model.zero_grad()
    loss_fn(model(x.to(torch.bfloat16) if x.is_floating_point() else x), y).backward()
    grads = {n: p.grad.to(torch.float32) for n, p in model.named_parameters()}
    # The model is float32 again for the diagnosis; the gradients are float32 tensors holding bf16 values.
    model = model.to(torch.float32)
    report = gt.diagnose(model, loss_fn, x, y, grads=grads)
    assert report.causes == ["dtype_mismatch"], str(report)
    for name, d in report.parameters.items():
        # Every tensor, the biases of 4 values included (the model's other tensors show the dtype).
        assert (d.causes, d.dtype) == (["dtype_mismatch"], "bf16"), f"{name}: {d}"
    # Judged by bf16, the dtype they were computed in, no parameter is wrong.
    again = gt.diagnose(model, loss_fn, x, y, grads=grads, dtype="bf16")
    assert again.verdict != "wrong", str(again)
