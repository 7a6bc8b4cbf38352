"""gradlab.check and gradlab.sweep: the rows of gradlab check --format csv, as dicts."""

import csv
import io
import math
import subprocess

import numpy as np
import pytest

import gradlab

# The columns of gradlab check --format csv, in order.
COLUMNS = [
    "dtype", "scheme", "wrt", "input_grad", "eps", "relerr_mean", "relerr_median", "relerr_max",
    "zero_over_zero", "dead_zone", "num_vs_truth", "anal_vs_truth", "ratio_median", "nonfinite",
    "anal_underflow", "status", "loss_flat", "est_error", "est_bounds", "truth_zero",
]  # fmt: skip


def problem(n=12, d=3, k=4, seed=5):
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=(n, d)),
        rng.integers(0, k, size=n),
        rng.normal(size=(k, d)) * 0.5,
        rng.normal(size=k) * 0.1,
    )


def same(a, b):
    if a is None or b is None:
        return a is b
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b


def test_rows_have_the_csv_columns_and_name_the_seeds_factor():
    rows = gradlab.check(dtype=["f32", "f64"], eps=[1e-2, 1e-6], input_grad="accumulate")
    assert [list(r) for r in rows] == [COLUMNS] * 4
    assert [(r["dtype"], r["eps"]) for r in rows] == [("f32", 0.01), ("f32", 1e-6), ("f64", 0.01), ("f64", 1e-6)]
    # x.grad summed over the 10 epochs (the parameters moving a little between them): about 10
    # times the true gradient, relative error about 0.9 (the lib's doc example's bounds).
    f64 = rows[3]
    assert f64["ratio_median"] == pytest.approx(10, abs=0.5)
    assert f64["relerr_mean"] == pytest.approx(0.9, abs=0.01)
    assert f64["anal_vs_truth"] == pytest.approx(9, abs=0.1)
    correct = gradlab.check(dtype="f64", eps="1e-6")
    assert correct[0]["relerr_max"] < 1e-6 and correct[0]["ratio_median"] == pytest.approx(1, abs=1e-6)


def test_the_mlp_and_every_scheme_run():
    for scheme in ["forward", "backward", "central", "central5", "complex", "dual", "ridders"]:
        eps = "none" if scheme == "dual" else "1e-3"
        rows = gradlab.check(model="mlp-tanh", hidden=5, wrt="hidden-weight,bias", dtype="f64", scheme=scheme, eps=eps)
        assert [r["wrt"] for r in rows] == ["hidden-weight", "bias"]
        assert all(r["scheme"] == scheme and r["relerr_max"] < 1e-2 for r in rows), rows
        assert (rows[0]["est_error"] is not None) == (scheme == "ridders")


def test_no_truth_leaves_the_truth_columns_empty():
    rows = gradlab.check(dtype="bf16", eps="1e-1", no_truth=True)
    assert math.isnan(rows[0]["num_vs_truth"]) and rows[0]["truth_zero"] is None


def test_sweep_covers_every_dtype_step_and_scheme():
    rows = gradlab.sweep(dtypes=["bf16", "f32"], steps=[1e-1, 1e-3], schemes=["central", "forward"])
    keys = [(r["scheme"], r["dtype"], r["eps"]) for r in rows]
    assert keys == [(s, d, e) for s in ["central", "forward"] for d in ["bf16", "f32"] for e in [0.1, 0.001]]
    # The default steps: the seed's 1e0 ... 1e-8, less what f16 cannot hold.
    rows = gradlab.sweep(dtypes=["f16", "f64"], epochs=0, no_truth=True)
    assert [r["eps"] for r in rows if r["dtype"] == "f64"] == [10.0**-i for i in range(9)]
    assert 1e-8 not in [r["eps"] for r in rows if r["dtype"] == "f16"]


@pytest.mark.parametrize(
    "kwargs, error, sentence",
    [
        ({"dtype": "f99"}, ValueError, 'invalid dtype "f99"'),
        ({"wrt": "hidden-weight"}, ValueError, "what --model linear has"),
        ({"model": "mlp"}, ValueError, "linear, mlp-tanh, mlp-relu or tokens"),
        ({"hidden": 4}, ValueError, "no hidden width"),
        ({"scheme": "complex", "dtype": "bf16+f32"}, ValueError, "bf16+f32"),
        ({"eps": "auto", "scheme": "dual"}, ValueError, "--eps auto"),
        ({"lr": -1}, ValueError, "expected a learning rate of 0 or more"),
        ({"max_memory": "1K"}, ValueError, "more than the limit"),
        ({"x": np.ones((3, 2))}, ValueError, "give all four arrays"),
    ],
)
def test_bad_choices_get_the_command_lines_sentence(kwargs, error, sentence):
    with pytest.raises(error) as e:
        gradlab.check(**kwargs)
    assert sentence in str(e.value)


def test_bad_arrays():
    x, t, w, b = problem()
    with pytest.raises(ValueError, match=r"t\[0\] = 9 is not a class; expected 0 to 3"):
        gradlab.check(x, np.r_[9, t[1:]], w, b)
    with pytest.raises(ValueError, match="invalid problem data"):
        gradlab.check(x, t, w[:, :2], b)
    with pytest.raises(TypeError, match="t is"):
        gradlab.check(x, t.astype(float), w, b)


def test_rows_are_the_command_lines_csv(cli, tmp_path):
    x, t, w, b = problem()
    for name, a in zip(["x", "t", "weight", "bias"], [x, t.astype(np.int64), w, b]):
        np.save(tmp_path / f"{name}.npy", a)
    options = {"dtype": "bf16,f32,f64", "eps": "1e-1,1e-3,1e-5", "wrt": "input,weight", "epochs": "3"}
    out = subprocess.run(
        [str(cli), "check", "--data", str(tmp_path), "--format", "csv"] + [f"--{k}={v}" for k, v in options.items()],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    expected = list(csv.DictReader(io.StringIO(out.stdout)))
    rows = gradlab.check(x, t, w, b, dtype=options["dtype"], eps=options["eps"], wrt=options["wrt"], epochs=3)
    assert len(rows) == len(expected) == 18
    for row, want in zip(rows, expected):
        assert list(row) == list(want)
        for column, text in want.items():
            if column in ("dtype", "scheme", "wrt", "input_grad", "status"):
                assert row[column] == text, column
            else:
                assert same(row[column], None if text == "" else float(text)), (column, row[column], text)
